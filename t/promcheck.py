#!/usr/bin/env python3
"""promcheck.py: a strict checker of the Prometheus text exposition format,
version 0.0.4, for filed's stats file.

    promcheck.py [FILE...]      (no FILE, or "-": standard input)

Exit status 0 if every FILE is valid, 1 if one is not (each error is printed
to standard error as FILE:LINE: message), 2 on a usage or read error.

What it checks, from the format's specification:

- UTF-8 text; lines end with a line feed, the last one too; no carriage
  returns. Blank lines are ignored.
- "# HELP name text" and "# TYPE name type" lines: a valid metric name;
  HELP text escapes only \\\\ and \\n; type one of counter, gauge,
  histogram, summary, untyped; at most one HELP and one TYPE per family,
  both before its first sample. Other lines starting with "#" are
  comments.
- Samples: name{label="value",...} value [timestamp]. Metric names match
  [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and do not
  start with "__"; no label twice in a sample; label values escape only
  \\\\, \\" and \\n; a value is a decimal float, NaN, +Inf or -Inf; a
  timestamp is an integer of milliseconds.
- The samples of a family form one group: a family never comes back after
  another one's line. No series (name and label set) appears twice.
- Counters: values are not negative and not NaN.
- Histograms: samples are NAME_bucket, NAME_sum and NAME_count; every
  bucket has le, whose values are ascending within each series and end
  with +Inf; bucket counts never decrease; NAME_count equals the +Inf
  bucket; NAME_sum and NAME_count are there. le appears nowhere else.
- Summaries: NAME{quantile=...}, NAME_sum and NAME_count; quantile between
  0 and 1, and nowhere else.

Stricter than Prometheus's own parser, on purpose, for a file filed
writes: every family must have both HELP and TYPE (no untyped samples),
counters' names must end in _total and no other family's may, lines may
not start or end with
blanks, and the only floats are decimal ones (no hexadecimal, no
underscores, no "Infinity").
"""

import math
import re
import sys

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
TIMESTAMP = re.compile(r"-?[0-9]+\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
BLANKS = " \t"


class Bad(Exception):
    """An error at the line being checked."""


def parse_float(s):
    """The value of a sample or of le/quantile, or Bad."""
    if s == "NaN":
        return math.nan
    if s == "+Inf":
        return math.inf
    if s == "-Inf":
        return -math.inf
    if not FLOAT.match(s):
        raise Bad("not a float: %r" % s)
    return float(s)


def unescape(s, allowed, what):
    """Undo the escapes of a HELP text or label value."""
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s) or s[i + 1] not in allowed:
                raise Bad("bad escape in %s: %r" % (what, s[i:i + 2]))
            out.append("\n" if s[i + 1] == "n" else s[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def split_meta(line):
    """'# HELP name text' or '# TYPE name type': (keyword, name, rest)."""
    m = re.match(r"#[ \t]+(HELP|TYPE)(?:[ \t]+|\Z)", line)
    if m is None:
        return None
    rest = line[m.end():]
    m2 = re.match(r"([^ \t]*)(?:[ \t]+(.*))?\Z", rest, re.S)
    name, text = m2.group(1), m2.group(2)
    return m.group(1), name, text if text is not None else ""


def parse_sample(line):
    """A sample line: (name, [(label, value)], value, timestamp or None)."""
    m = re.match(r"[^ \t{]+", line)
    if m is None:
        raise Bad("no metric name")
    name = m.group(0)
    if not METRIC_NAME.match(name):
        raise Bad("bad metric name %r" % name)
    i = m.end()
    labels = []
    if i < len(line) and line[i] == "{":
        i += 1
        while True:
            while i < len(line) and line[i] in BLANKS:
                i += 1
            if i < len(line) and line[i] == "}":
                i += 1
                break
            m = re.compile(r"[^ \t=]*").match(line, i)
            lname = m.group(0)
            if not LABEL_NAME.match(lname):
                raise Bad("bad label name %r" % lname)
            if lname.startswith("__"):
                raise Bad("reserved label name %r" % lname)
            i = m.end()
            while i < len(line) and line[i] in BLANKS:
                i += 1
            if i >= len(line) or line[i] != "=":
                raise Bad("no '=' after label %r" % lname)
            i += 1
            while i < len(line) and line[i] in BLANKS:
                i += 1
            if i >= len(line) or line[i] != '"':
                raise Bad("label value of %r not quoted" % lname)
            i += 1
            start = i
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            if i >= len(line):
                raise Bad("unterminated label value of %r" % lname)
            value = unescape(line[start:i], '\\"n', "label value")
            i += 1
            labels.append((lname, value))
            while i < len(line) and line[i] in BLANKS:
                i += 1
            if i < len(line) and line[i] == ",":
                i += 1
                continue
            if i < len(line) and line[i] == "}":
                i += 1
                break
            raise Bad("expected ',' or '}' after label %r" % lname)
        seen = set()
        for lname, _ in labels:
            if lname in seen:
                raise Bad("label %r twice" % lname)
            seen.add(lname)
    rest = line[i:]
    if not rest or rest[0] not in BLANKS:
        raise Bad("no blank before the value")
    fields = rest.split()
    if len(fields) not in (1, 2):
        raise Bad("expected a value and at most a timestamp")
    value = parse_float(fields[0])
    ts = None
    if len(fields) == 2:
        if not TIMESTAMP.match(fields[1]):
            raise Bad("bad timestamp %r" % fields[1])
        ts = int(fields[1])
        if not -(2 ** 63) <= ts < 2 ** 63:
            raise Bad("timestamp out of range")
    return name, labels, value, ts


class Checker:
    """The state of one file's check."""

    def __init__(self, path):
        self.path = path
        self.errors = []
        self.types = {}         # family -> type
        self.helps = set()      # families with a HELP line
        self.sampled = set()    # families with a sample
        self.closed = set()     # families whose group has ended
        self.current = None     # the family of the last line
        self.series = set()
        self.hist = {}          # (family, labels but le) -> state
        self.lineno = 0

    def error(self, msg, lineno=None):
        self.errors.append("%s:%d: %s" % (self.path,
                           self.lineno if lineno is None else lineno, msg))

    def enter(self, family):
        """The line being checked belongs to family."""
        if family == self.current:
            return
        if family in self.closed:
            raise Bad("family %s continues after another one's lines"
                      % family)
        if self.current is not None:
            self.closed.add(self.current)
        self.current = family

    def family_of(self, name):
        """The family a sample called name belongs to."""
        found = []
        if name in self.types and self.types[name] not in ("histogram",):
            found.append(name)
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)] if name.endswith(suffix) else None
            if base and self.types.get(base) == "histogram":
                found.append(base)
            elif (base and suffix != "_bucket"
                  and self.types.get(base) == "summary"):
                found.append(base)
        if len(found) > 1:
            raise Bad("sample %s belongs to families %s" %
                      (name, " and ".join(found)))
        if not found and self.types.get(name) == "histogram":
            raise Bad("histogram sample %s is not _bucket, _sum or _count"
                      % name)
        if not found:
            raise Bad("sample %s has no TYPE before it" % name)
        return found[0]

    def meta(self, kw, name, text):
        if not METRIC_NAME.match(name):
            raise Bad("bad metric name %r in %s" % (name, kw))
        self.enter(name)
        if name in self.sampled:
            raise Bad("%s of %s after its samples" % (kw, name))
        if kw == "HELP":
            if name in self.helps:
                raise Bad("second HELP for %s" % name)
            unescape(text, "\\n", "HELP text")
            self.helps.add(name)
            return
        if name in self.types:
            raise Bad("second TYPE for %s" % name)
        if text not in TYPES:
            raise Bad("unknown type %r for %s" % (text, name))
        for other, t in self.types.items():
            for suffix in ("_bucket", "_sum", "_count"):
                if t in ("histogram", "summary") and name == other + suffix:
                    raise Bad("%s clashes with %s %s" % (name, t, other))
                if (text in ("histogram", "summary")
                        and other == name + suffix):
                    raise Bad("%s %s clashes with %s" % (text, name, other))
        if text == "counter" and not name.endswith("_total"):
            raise Bad("counter %s does not end in _total" % name)
        if text != "counter" and name.endswith("_total"):
            raise Bad("%s %s ends in _total, as only counters do"
                      % (text, name))
        self.types[name] = text

    def sample(self, line):
        name, labels, value, _ = parse_sample(line)
        family = self.family_of(name)
        self.enter(family)
        if family not in self.helps:
            raise Bad("family %s has no HELP before its samples" % family)
        self.sampled.add(family)
        key = (name, frozenset(labels))
        if key in self.series:
            raise Bad("series %s%s twice" % (name, dict(labels)))
        self.series.add(key)
        kind = self.types[family]
        names = [l for l, _ in labels]
        if kind != "histogram" and "le" in names:
            raise Bad("label le on %s %s" % (kind, name))
        if kind != "summary" and "quantile" in names:
            raise Bad("label quantile on %s %s" % (kind, name))
        if kind == "counter" and (math.isnan(value) or value < 0):
            raise Bad("counter %s is %r" % (name, value))
        if kind == "histogram":
            self.histogram(family, name, labels, value)
        if kind == "summary":
            self.summary(family, name, labels, value)

    def hstate(self, family, labels):
        rest = frozenset((l, v) for l, v in labels if l not in ("le",
                         "quantile"))
        return self.hist.setdefault((family, rest), {
            "line": self.lineno, "le": None, "count": None, "inf": None,
            "sum": False, "cnt": None, "prev": None})

    def histogram(self, family, name, labels, value):
        h = self.hstate(family, labels)
        lab = dict(labels)
        if name == family + "_bucket":
            if "le" not in lab:
                raise Bad("bucket %s without le" % name)
            le = parse_float(lab["le"])
            if math.isnan(le):
                raise Bad("le is NaN")
            if h["inf"] is not None:
                raise Bad("bucket le=%s after +Inf" % lab["le"])
            if h["le"] is not None and le <= h["le"]:
                raise Bad("le=%s not above le=%r before it" %
                          (lab["le"], h["le"]))
            if math.isnan(value) or value < 0:
                raise Bad("bucket count %r" % value)
            if h["prev"] is not None and value < h["prev"]:
                raise Bad("bucket le=%s holds %r, less than %r below it"
                          % (lab["le"], value, h["prev"]))
            if h["sum"] or h["cnt"] is not None:
                raise Bad("bucket after %s_sum or _count" % family)
            h["le"] = le
            h["prev"] = value
            if le == math.inf:
                h["inf"] = value
        elif name == family + "_sum":
            if "le" in lab:
                raise Bad("le on %s" % name)
            h["sum"] = True
        else:
            if "le" in lab:
                raise Bad("le on %s" % name)
            if math.isnan(value) or value < 0:
                raise Bad("%s is %r" % (name, value))
            h["cnt"] = value

    def summary(self, family, name, labels, value):
        h = self.hstate(family, labels)
        lab = dict(labels)
        if name == family:
            if "quantile" not in lab:
                raise Bad("summary %s without quantile" % name)
            q = parse_float(lab["quantile"])
            if not 0 <= q <= 1:
                raise Bad("quantile %s" % lab["quantile"])
        elif name == family + "_sum":
            h["sum"] = True
        else:
            if math.isnan(value) or value < 0:
                raise Bad("%s is %r" % (name, value))
            h["cnt"] = value
        h["inf"] = h["cnt"]

    def finish(self):
        for (family, rest), h in sorted(self.hist.items(),
                                        key=lambda kv: kv[1]["line"]):
            what = "%s%s" % (family, dict(rest) if rest else "")
            kind = self.types[family]
            if kind == "histogram" and h["inf"] is None:
                self.error("histogram %s has no le=\"+Inf\" bucket" % what,
                           h["line"])
            if not h["sum"]:
                self.error("%s %s has no _sum" % (kind, what), h["line"])
            if h["cnt"] is None:
                self.error("%s %s has no _count" % (kind, what), h["line"])
            elif (kind == "histogram" and h["inf"] is not None
                  and h["cnt"] != h["inf"]):
                self.error("histogram %s: _count %r but +Inf bucket %r" %
                           (what, h["cnt"], h["inf"]), h["line"])
        for family in sorted(set(self.types) | self.helps):
            if family not in self.types:
                self.error("family %s has HELP but no TYPE" % family, 0)
            elif family not in self.helps:
                self.error("family %s has TYPE but no HELP" % family, 0)

    def check(self, data):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            self.lineno = data[:e.start].count(b"\n") + 1
            self.error("not UTF-8")
            return
        if text and not text.endswith("\n"):
            self.lineno = text.count("\n") + 1
            self.error("the last line does not end with a line feed")
        for self.lineno, line in enumerate(text.split("\n"), 1):
            try:
                if "\r" in line:
                    raise Bad("carriage return")
                if line == "":
                    continue
                if line[0] in BLANKS or line[-1] in BLANKS:
                    raise Bad("line starts or ends with a blank")
                if line[0] == "#":
                    meta = split_meta(line)
                    if meta is not None:
                        self.meta(*meta)
                    continue
                self.sample(line)
            except Bad as e:
                self.error(str(e))
        self.finish()


def main(argv):
    paths = argv[1:] or ["-"]
    bad = False
    for path in paths:
        try:
            if path == "-":
                data = sys.stdin.buffer.read()
            else:
                with open(path, "rb") as f:
                    data = f.read()
        except OSError as e:
            print("promcheck: %s: %s" % (path, e.strerror), file=sys.stderr)
            return 2
        c = Checker("<stdin>" if path == "-" else path)
        c.check(data)
        for e in c.errors:
            print("promcheck: " + e, file=sys.stderr)
        bad = bad or bool(c.errors)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
