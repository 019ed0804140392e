"""Scores the normalizer against a directory of written -> spoken test cases kept outside the repo.

    python docs/bench-scripts/score_suite.py DIR {en|ru} [CLASS|all]

DIR holds files named `test_cases_<class>.txt` in NeMo-text-processing's layout (one case a
line, `written~spoken` for English, `spoken~written` for Russian; in `*normalize_with_audio*`
files a `~written` line is followed by the spoken forms that are accepted). The suite used for
issue 15 is that project's `tests/nemo_text_processing/{en,ru}/data_text_normalization/`; it is
a public test suite, so it is read from where it lies and never copied into this project.

The comparison is lenient in the ways issue 15 names: case, ё/е, punctuation, hyphens, the
spacing of spelled letters ("U S" = "US") and "and" are ignored. Prints the pass count per
class and in all; with CLASS (or `all`) also each miss, as got/want.
"""

from __future__ import annotations

import collections
import re
import sys
from pathlib import Path

from qwentts_cli.text.normalize import normalize


def canonical(text: str) -> str:
    text = text.lower().replace("ё", "е")
    text = re.sub(r"[-\u2010-\u2015_]", " ", text)
    text = re.sub(r"[^\w\s]", " ", text)
    words, joined, after_letter = [w for w in text.split() if w != "and"], [], False
    for word in words:  # runs of single letters are one word: "u s" = "us"
        letter = len(word) == 1 and word.isalpha()
        if letter and after_letter:
            joined[-1] += word
        else:
            joined.append(word)
        after_letter = letter
    return " ".join(joined)


def cases(folder: Path, lang: str):
    """(class, written, accepted spoken forms) for every case in `folder`."""
    for path in sorted(folder.glob("test_cases_*.txt")):
        name = path.stem.removeprefix("test_cases_")
        lines = path.read_text(encoding="utf-8").splitlines()
        if "normalize_with_audio" in name:
            written, accepted = None, []
            for line in lines + ["~"]:
                if line.startswith("~"):
                    if written is not None and accepted:
                        yield name, written, accepted
                    written, accepted = line[1:], []
                elif line.strip() and written is not None:
                    accepted.append(line)
            continue
        for line in lines:
            if "~" in line:
                left, right = line.split("~", 1)
                yield (name, right, [left]) if lang == "ru" else (name, left, [right])


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[2] not in ("en", "ru"):
        sys.exit(__doc__)
    folder, lang, show = Path(sys.argv[1]), sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else None)
    total, passed = collections.Counter(), collections.Counter()
    for name, written, accepted in cases(folder, lang):
        got = normalize(written, lang)
        ok = canonical(got) in {canonical(a) for a in accepted}
        total[name] += 1
        passed[name] += ok
        if not ok and show in ("all", name):
            print(f"[{name}] {written!r}\n   got: {got!r}\n  want: {accepted[0]!r}")
    for name in sorted(total):
        print(f"{name:32s} {passed[name]:4d} / {total[name]:4d}")
    n, k = sum(total.values()), sum(passed.values())
    if not n:
        sys.exit(f"no test_cases_*.txt files in {folder}")
    print(f"{lang}: {k} / {n} = {100 * k / n:.1f}%")


if __name__ == "__main__":
    main()
