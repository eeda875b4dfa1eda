"""Summarize py-spy raw (collapsed) profiles: where the workers' time goes.

    python -m bench.profile var/bench/profile-list-team-*.txt [--top 30] [--filter dciserver]
    python -m bench.profile --kinds var/bench   # one line per scenario: what kind of work

Prints the functions with the most samples on the stack (inclusive) and at the top of
the stack (self), as a share of all samples; with ``--kinds``, each scenario's samples
sorted into kinds of work (the first rule below that any frame of a sample matches).
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


# Checked from the innermost frame outwards: the first frame that matches names the sample's kind.
KINDS = [
    ("health check", ("is_usable",)),
    ("SQL execute", ("CursorWrapper._execute (", "BaseDatabaseWrapper.commit", "_commit (")),
    (
        "JSON",
        (
            "json/encoder.py",
            "rest_framework/renderers.py",
            "rest_framework/utils/encoders.py",
            "drf_orjson_renderer/",
        ),
    ),  # fmt: skip
    ("reader", ("dciserver/api/reader.py",)),
    ("upload body", ("gunicorn/http/body.py", "gunicorn/http/unreader.py", "_spooled", "tempfile.py", "storage.py")),
    ("JUnit", ("files/junit.py", "_junit_store", "xml/etree")),
    (
        "ORM rows",
        (
            "results_iter",
            "apply_converters",
            "ModelIterable",
            "from_db",
            "Model.__init__",
            "RelatedPopulator",
            "psycopg2/extras.py",
            "related_descriptors.py",
        ),
    ),  # fmt: skip
    (
        "ORM query+SQL",
        (
            "django/db/models/sql/",
            "django/db/models/expressions.py",
            "django/db/models/lookups.py",
            "django/db/models/query.py",
            "django/db/models/query_utils.py",
            "django/utils/tree.py",
            "django/db/models/fields/",
        ),
    ),  # fmt: skip
    (
        "DRF render",
        (
            "rest_framework/serializers.py",
            "rest_framework/fields.py",
            "rest_framework/relations.py",
            "dciserver/api/serializers.py",
            "render_page_embeds",
            "copy.py",
        ),
    ),  # fmt: skip
    ("auth", ("authentication.py", "hmac.py", "backends/locmem.py")),
    ("idle", ("EpollSelector.select", "PollSelector.select", "Condition.wait")),
    ("HTTP/Django stack", ("django/", "gunicorn/", "rest_framework/", "corsheaders/", "asgiref/")),
]


def kind_of(frames):
    for frame in reversed(frames):
        for kind, needles in KINDS:
            if any(needle in frame for needle in needles):
                return kind
    return "other"


def kinds(paths):
    counts, total = Counter(), 0
    for path in paths:
        with open(path) as f:
            for line in f:
                stack, _, count = line.rstrip("\n").rpartition(" ")
                if stack:
                    counts[kind_of([short(frame) for frame in stack.split(";")])] += int(count)
                    total += int(count)
    busy = total - counts.pop("idle", 0)
    return busy, [(kind, 100 * n / max(busy, 1)) for kind, n in counts.most_common()]


def kinds_report(folder):
    import glob
    import os

    by_scenario = {}
    for path in sorted(glob.glob(os.path.join(folder, "profile-*-*.txt"))):
        name = os.path.basename(path)[len("profile-") :].rsplit("-", 1)[0]
        by_scenario.setdefault(name, []).append(path)
    lines = []
    for name, paths in by_scenario.items():
        busy, shares = kinds(paths)
        lines.append(f"{name} ({busy} busy samples): " + ", ".join(f"{kind} {share:.0f}%" for kind, share in shares))
    return "\n".join(lines)


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
    parser.add_argument("--kinds", action="store_true", help="paths is the folder of profile-*.txt files")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    if args.kinds:
        print(kinds_report(args.paths[0]))
    else:
        print(summarize(args.paths, args.top, args.filter))


if __name__ == "__main__":
    main()
