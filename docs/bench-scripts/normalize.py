"""Times `normalize()` over 1 MB of text (issue 15's target: under 2 s on the 2-core machine).

    python docs/bench-scripts/normalize.py [RUNS]

Two texts of about a million characters, each normalized whole with --lang auto:
- dense: every sentence holds numbers, a date, money, a phone, an abbreviation, in both languages
  (a stress case: no book is like it);
- book: seeded random prose, Russian then English paragraphs, one sentence in seven holding a
  year, a time, a date, an amount or an abbreviation.
Prints the median and min seconds over RUNS runs (default 3). This was a timed unit test;
timings belong here, where a loaded machine makes a slow figure and not a red CI.
"""

import random
import statistics
import sys
import time

from qwentts_cli.text.normalize import normalize

CHUNK = ("В 2024 году 5 кошек съели 3,5 кг корма за 12.05.2024, т.е. 100 ₽ на +7 (495) 123-45-67. "
         "I paid $5.50 for 5 km on May 5, 2024 at 10:30 am, i.e. in 1999. Простой текст без чисел. ")
WORDS = {
    "ru": "он она они было сказал говорила дом лес река город время жизнь человек рука глаза дверь окно ночь утро свет",
    "en": "the of and to in he she was said house forest river city time life man hand eyes door window night morning",
}
SPECIAL = {
    "ru": ["в 1812 году", "около 5 км", "т.е.", "в 19:30", "12 марта", "и т.д.", "г. Москва", "ул. Ленина, д. 5", "XIX век"],
    "en": ["in 1999", "about 5 km", "e.g.", "at 7:30 pm", "on May 5", "Dr. Smith", "St. Louis", "$5.50", "Chapter IV"],
}


def book(size: int = 1_000_000) -> str:
    rng, paragraphs, length = random.Random(1), [], 0
    while length < size:
        lang = "ru" if length < size // 2 else "en"
        sentences = []
        for _ in range(rng.randint(3, 8)):
            words = [rng.choice(WORDS[lang].split()) for _ in range(rng.randint(8, 20))]
            if rng.random() < 0.15:
                words.insert(rng.randint(0, len(words)), rng.choice(SPECIAL[lang]))
            sentences.append(" ".join(words).capitalize() + rng.choice(".!?."))
        paragraphs.append(" ".join(sentences))
        length += len(paragraphs[-1]) + 2
    return "\n\n".join(paragraphs)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    normalize(CHUNK, "auto")  # imports and first-use caches out of the timing
    for name, text in (("dense", CHUNK * (1_000_000 // len(CHUNK))), ("book", book())):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            normalize(text, "auto")
            times.append(time.perf_counter() - start)
        print(f"normalize {name} ({len(text)} chars): median {statistics.median(times):.2f} s, min {min(times):.2f} s")


if __name__ == "__main__":
    main()
