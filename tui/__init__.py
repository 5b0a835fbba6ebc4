"""The Textual desk: the inbox, a thread with its customer, the reply box."""
