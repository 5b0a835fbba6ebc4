"""Check the X-CI severity numbers against Trosborg's face-threat scale before trusting the level names.

X-CI ships severity as bare numbers 1-4; complaint-severity-xci/SOURCE.md infers the names (1 No explicit
reproach, 2 Disapproval, 3 Accusation, 4 Blame) from the ordinal order. This prints, per level, markers the
scale predicts should rise or fall: a level-1 complaint states a problem or asks for help without reproach
(questions, "please", "help"); disapproval adds negative evaluation; accusation says what *you* did; blame
adds abuse and holds the company responsible (insults, "you" + guilt words, shouting). It also compares
against X-FINCORP, which names its levels: the same markers should line up level for level.
`python -m nlp.training.severity_order`
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

import numpy as np

from nlp.training.data import SEVERITY_LABELS, complaint_rows, resolve_data_dir, xfincorp

MARKERS = {
    "asks (? / please / help / can you)": re.compile(
        r"\?|\bplease\b|\bplz\b|\bhelp\b|\bcan you\b|\bcould you\b", re.I
    ),
    "evaluates (disappoint*, not happy, poor, bad)": re.compile(
        r"\bdisappoint\w*|\bnot (?:happy|impressed|good)\b|\bpoor\b|\bbad\b|\bunhappy\b|\bannoy\w*", re.I
    ),
    "accuses (you + did/charged/lost/took/...)": re.compile(
        r"\byou(?:'ve| have)? (?:\w+ )?(?:charged|lost|took|cancel+ed|broke|ruined|sent|told|refused|lied|never)\b",
        re.I,
    ),
    "blames (worst, pathetic, useless, shame, disgrace, incompetent, joke, scam)": re.compile(
        r"\bworst\b|\bpathetic\b|\buseless\b|\bshame\w*|\bdisgrac\w*|\bincompeten\w*|\bjoke\b|\bscam\w*|"
        r"\bridiculous\b|\bfraud\w*|\bterrible\b|\bawful\b|\bhorrible\b|\bfuck\w*|\bshit\w*",
        re.I,
    ),
}


def marker_rates(texts: Sequence[str], levels: np.ndarray) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for name, regex in MARKERS.items():
        hits = np.array([bool(regex.search(t)) for t in texts])
        out[name] = [round(float(hits[levels == k].mean()), 3) for k in range(1, 5)]
    return out


def main() -> int:
    data = resolve_data_dir(None)
    rows = complaint_rows(data)
    is_c = rows.severity > 0
    xci = marker_rates([t for t, c in zip(rows.texts, is_c, strict=True) if c], rows.severity[is_c])
    fin = xfincorp(data)
    fc = fin.severity > 0
    named = marker_rates([t for t, c in zip(fin.texts, fc, strict=True) if c], fin.severity[fc])
    print("share of complaints with each marker, by level (1..4 = " + ", ".join(SEVERITY_LABELS) + ")")
    for name in MARKERS:
        print(f"  {name}\n    X-CI numbers   {xci[name]}\n    X-FINCORP names {named[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
