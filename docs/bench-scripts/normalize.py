"""Times `normalize()` over a 1 MB mixed Russian/English text (the target: under 2 s on the 2-core machine).

    python docs/bench-scripts/normalize.py [RUNS]

Prints the median and min seconds over RUNS runs (default 3). This was a timed unit test;
timings belong here, where a loaded machine makes a slow figure and not a red CI.
"""

import statistics
import sys
import time

from qwentts_cli.text.normalize import normalize

CHUNK = ("В 2024 году 5 кошек съели 3,5 кг корма за 12.05.2024, т.е. 100 ₽ на +7 (495) 123-45-67. "
         "I paid $5.50 for 5 km on May 5, 2024 at 10:30 am, i.e. in 1999. Простой текст без чисел. ")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    text = CHUNK * (1_000_000 // len(CHUNK))
    normalize(CHUNK, "auto")  # imports and first-use caches out of the timing
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        normalize(text, "auto")
        times.append(time.perf_counter() - start)
    print(f"normalize 1 MB ({len(text)} chars): median {statistics.median(times):.2f} s, min {min(times):.2f} s")


if __name__ == "__main__":
    main()
