"""Summarize py-spy raw (collapsed) profiles: where the workers' time goes.

    python -m bench.profile var/bench/profile-list-team-*.txt [--top 30] [--filter dciserver]

Prints the functions with the most samples on the stack (inclusive) and at the top of
the stack (self), as a share of all samples.
"""

import argparse
import re
from collections import Counter

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short(frame):
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['func']} ({path})"


def summarize(paths, top=30, contains=""):
    inclusive, self_time, total = Counter(), Counter(), 0
    for path in paths:
        with open(path) as f:
            for line in f:
                stack, _, count = line.rstrip("\n").rpartition(" ")
                if not stack:
                    continue
                n = int(count)
                frames = [short(frame) for frame in stack.split(";")]
                # Thread names py-spy puts first are not frames.
                frames = [fr for fr in frames if "(" in fr]
                total += n
                for frame in set(frames):
                    inclusive[frame] += n
                if frames:
                    self_time[frames[-1]] += n
    lines = [f"{total} samples"]
    for title, counter in (("inclusive", inclusive), ("self", self_time)):
        lines.append(f"\n{title}:")
        shown = 0
        for frame, n in counter.most_common():
            if contains and contains not in frame:
                continue
            lines.append(f"{100 * n / max(total, 1):6.1f}%  {frame}")
            shown += 1
            if shown >= top:
                break
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    print(summarize(args.paths, args.top, args.filter))


if __name__ == "__main__":
    main()
