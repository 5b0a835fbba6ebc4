"""Words that never name what a complaint is about: English function words and their contractions (with or
without the apostrophe, as people type them), chat filler, and the words every complaint uses whatever it is
about ("issue", "help", "still", "back", "time"). Complaint topics leave them out.
"""

from __future__ import annotations

_FUNCTION = """
a about above across after afterwards again against all almost alone along already also although always am among
an and another any anybody anyhow anyone anything anyway anyways anywhere are around as at be became because become
becomes been before beforehand behind being below beside besides between beyond both but by can cannot could did do
does doing done down during each either else elsewhere enough etc even ever every everybody everyone everything
everywhere except few for former formerly from further had has have having he hence her here hereafter hereby
herein hers herself him himself his how however i if in indeed into is it its itself just last latter least less
many may me meanwhile might mine more moreover most mostly much must my myself namely neither never nevertheless
next no nobody none noone nor not nothing now nowhere of off often on once one only onto or other others otherwise
our ours ourselves out over own per perhaps quite rather same several she should since so some somebody somehow
someone something sometime sometimes somewhere still such than that the their theirs them themselves then thence
there thereafter thereby therefore therein thereupon these they this those though through throughout thru thus to
together too toward towards under until unto up upon us very via was we well were what whatever when whence
whenever where whereafter whereas whereby wherein whereupon wherever whether which while whither who whoever whole
whom whose why will with within without would yet you your yours yourself yourselves
"""

# Each with its apostrophe; the bare spelling (dont, im) is added below, as people type it on a phone.
_CONTRACTIONS = """
ain't aren't can't could've couldn't didn't doesn't don't hadn't hasn't haven't he'd he'll he's how'd how's i'd
i'll i'm i've isn't it'd it'll it's let's might've mightn't must've mustn't needn't shan't she'd she'll she's
should've shouldn't that'd that'll that's there'd there's they'd they'll they're they've wasn't we'd we'll we're
we've weren't what'll what're what's what've when's where'd where's who'd who'll who's who've why's won't would've
wouldn't y'all you'd you'll you're you've gonna gotta wanna
"""

# Chat and the words any complaint uses, whatever it is about.
_FILLER = """
able actually again ago almost already amp anymore anyway asap ask asked asking away back bad best better big bit
btw call called calling came can come comes coming could day days definitely did done dont else even ever every
feel felt find fine first fix fixed get gets getting give given gives giving glad go goes going gone good got
gotten great guess guys happen happened happening happens hear heard hello help helped helping hey hi hope hours
how http https issue issues keep keeps kept kind know knew known let like literally little lol long look looked
looking looks lot lots made make makes making maybe mean means minute minutes month months morning much need
needed needs never new nice night no nope now okay ok omg one ones please pls plz problem problems put really
reason right said saw say saying says see seem seems seen sent set since someone soon sorry start started still
sure take taken takes taking tell telling thank thanks thing things think thought time times today told tomorrow
tonight took tried tries try trying two use used using via wait waited waiting want wanted wants way week weeks
went whats will wish without wont work yeah year years yes yesterday yet youre com www people person
"""


def _words() -> frozenset[str]:
    words = set((_FUNCTION + _CONTRACTIONS + _FILLER).split())
    words |= {w.replace("'", "") for w in words if "'" in w}
    return frozenset(words)


STOPWORDS = _words()
