"""terraform.py - what `make fleet` reads from terraform/ instead of copying
numbers: the target group's health check and deregistration delay, the
load balancer's idle timeout, the variables' defaults, and the production
presignd config rendered from templates/presignd.yaml.tftpl.

There is no Terraform on the machine (it is not in Debian), so this is a
small reader of the HCL subset the files use: blocks, attributes, string /
number / bool literals, lists, objects, references (var.x, local.y) and
function calls whose arguments are those. Anything else (conditionals,
operators) is kept as its source text and only fails when the fleet
actually needs its value; a change to the Terraform that this reader does
not follow is an error here, never a silently different fleet.
"""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "terraform"


class HclError(Exception):
    pass


# ------------------------------------------------------------------ lexer

_PUNCT = "{}[]()=,:?!<>+-*/%&|."


def _lex(src, name):
    """Tokens (kind, value, start, end); kinds: nl ident str num punct."""
    toks = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\n":
            toks.append(("nl", "\n", i, i + 1))
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#" or src.startswith("//", i):
            while i < n and src[i] != "\n":
                i += 1
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            if j < 0:
                raise HclError("%s: unterminated comment" % name)
            i = j + 2
        elif c == '"':
            j, depth, out = i + 1, 0, []
            while True:
                if j >= n:
                    raise HclError("%s: unterminated string at %d" % (name, i))
                ch = src[j]
                if ch == "\\" and depth == 0:
                    esc = src[j + 1]
                    out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(esc, "\\" + esc))
                    j += 2
                    continue
                if src.startswith("${", j) or src.startswith("%{", j):
                    depth += 1
                    out.append(src[j:j + 2])
                    j += 2
                    continue
                if ch == "}" and depth:
                    depth -= 1
                elif ch == '"' and depth == 0:
                    break
                out.append(ch)
                j += 1
            toks.append(("str", "".join(out), i, j + 1))
            i = j + 1
        elif src.startswith("<<", i):
            m = re.match(r"<<(-?)([A-Za-z_][A-Za-z0-9_]*)\n", src[i:])
            if not m:
                raise HclError("%s: bad heredoc at %d" % (name, i))
            end = re.compile(r"^[ \t]*%s[ \t]*$" % m.group(2), re.M)
            body_start = i + m.end()
            e = end.search(src, body_start)
            if not e:
                raise HclError("%s: unterminated heredoc %s" % (name, m.group(2)))
            toks.append(("str", src[body_start:e.start()], i, e.end()))
            i = e.end()
        elif c.isdigit():
            m = re.match(r"\d+(\.\d+)?([eE][+-]?\d+)?", src[i:])
            text = m.group(0)
            toks.append(("num", float(text) if "." in text or "e" in text.lower()
                         else int(text), i, i + m.end()))
            i += m.end()
        elif c.isalpha() or c == "_":
            m = re.match(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])*", src[i:])
            toks.append(("ident", m.group(0), i, i + m.end()))
            i += m.end()
        elif c in _PUNCT:
            two = src[i:i + 2]
            if two in ("==", "!=", ">=", "<=", "&&", "||", "=>"):
                toks.append(("punct", two, i, i + 2))
                i += 2
            else:
                toks.append(("punct", c, i, i + 1))
                i += 1
        else:
            raise HclError("%s: unexpected character %r at %d" % (name, c, i))
    toks.append(("eof", None, n, n))
    return toks


# ------------------------------------------------------------------ parser

class Ref(str):
    """A reference such as var.shutdown_timeout (its text)."""


class Raw(str):
    """An expression this reader does not evaluate (its source text)."""


class Call:
    def __init__(self, name, args):
        self.name, self.args = name, args

    def __repr__(self):
        return "Call(%s, %r)" % (self.name, self.args)


class Block:
    """A block: its type, labels, attributes (dict) and nested blocks (list)."""

    def __init__(self, btype, labels):
        self.type, self.labels = btype, labels
        self.attrs = {}
        self.blocks = []

    def find(self, btype, *labels):
        out = [b for b in self.blocks if b.type == btype and
               tuple(b.labels[:len(labels)]) == labels]
        return out

    def one(self, btype, *labels):
        found = self.find(btype, *labels)
        if len(found) != 1:
            raise HclError("expected one %s %s block, found %d"
                           % (btype, " ".join(labels), len(found)))
        return found[0]


class _Parser:
    def __init__(self, src, name):
        self.src, self.name = src, name
        self.toks = _lex(src, name)
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def next(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def skip_nl(self):
        while self.peek()[0] == "nl":
            self.i += 1

    def expect(self, kind, value=None):
        t = self.next()
        if t[0] != kind or (value is not None and t[1] != value):
            raise HclError("%s: expected %s %s at %d, found %r"
                           % (self.name, kind, value or "", t[2], t[1]))
        return t

    def body(self, block, closing):
        while True:
            self.skip_nl()
            t = self.peek()
            if closing and t[0] == "punct" and t[1] == "}":
                self.next()
                return block
            if t[0] == "eof":
                if closing:
                    raise HclError("%s: missing }" % self.name)
                return block
            name = self.expect("ident")[1]
            t = self.peek()
            if t[0] == "punct" and t[1] == "=":
                self.next()
                block.attrs[name] = self.expr(in_brackets=False)
                continue
            labels = []
            while self.peek()[0] in ("str", "ident"):
                labels.append(self.next()[1])
            self.expect("punct", "{")
            block.blocks.append(self.body(Block(name, labels), closing=True))

    def _terminator(self, t, in_brackets):
        if t[0] == "eof":
            return True
        if t[0] == "nl":
            return not in_brackets
        return t[0] == "punct" and t[1] in (",", "}", "]", ")")

    def expr(self, in_brackets):
        start = self.i
        try:
            value = self.primary()
            ok = self._terminator(self.peek(), in_brackets)
        except HclError:
            ok = False
        if ok:
            return value
        # Not a plain value: keep its source text up to the end of it.
        self.i = start
        depth = 0
        first = self.peek()[2]
        last = first
        while True:
            t = self.peek()
            if depth == 0 and self._terminator(t, in_brackets):
                break
            if t[0] == "eof":
                raise HclError("%s: unterminated expression at %d" % (self.name, first))
            if t[0] == "punct" and t[1] in "([{":
                depth += 1
            elif t[0] == "punct" and t[1] in ")]}":
                depth -= 1
            last = t[3]
            self.next()
        return Raw(self.src[first:last].strip())

    def primary(self):
        t = self.next()
        kind, v = t[0], t[1]
        if kind in ("str", "num"):
            return v
        if kind == "ident":
            if v in ("true", "false"):
                return v == "true"
            if v == "null":
                return None
            if self.peek()[0] == "punct" and self.peek()[1] == "(":
                self.next()
                args = []
                while True:
                    self.skip_nl()
                    if self.peek()[0] == "punct" and self.peek()[1] == ")":
                        self.next()
                        return Call(v, args)
                    args.append(self.expr(in_brackets=True))
                    self.skip_nl()
                    if self.peek()[0] == "punct" and self.peek()[1] == ",":
                        self.next()
            return Ref(v)
        if kind == "punct" and v == "[":
            out = []
            while True:
                self.skip_nl()
                if self.peek()[0] == "punct" and self.peek()[1] == "]":
                    self.next()
                    return out
                out.append(self.expr(in_brackets=True))
                self.skip_nl()
                if self.peek()[0] == "punct" and self.peek()[1] == ",":
                    self.next()
        if kind == "punct" and v == "{":
            out = {}
            while True:
                self.skip_nl()
                if self.peek()[0] == "punct" and self.peek()[1] == "}":
                    self.next()
                    return out
                k = self.next()
                if k[0] not in ("str", "ident"):
                    raise HclError("%s: bad object key at %d" % (self.name, k[2]))
                sep = self.next()
                if sep[0] != "punct" or sep[1] not in ("=", ":"):
                    raise HclError("%s: expected = after key at %d" % (self.name, sep[2]))
                # Object elements end at a newline or a comma.
                out[k[1]] = self.expr(in_brackets=False)
                if self.peek()[0] == "punct" and self.peek()[1] == ",":
                    self.next()
        raise HclError("%s: unexpected %r at %d" % (self.name, v, t[2]))


def parse(src, name="<hcl>"):
    return _Parser(src, name).body(Block("file", []), closing=False)


def parse_dir(d=TF_DIR):
    """All *.tf files of D merged into one Block."""
    root = Block("dir", [])
    for p in sorted(Path(d).glob("*.tf")):
        f = parse(p.read_text(), str(p))
        root.blocks.extend(f.blocks)
        root.attrs.update(f.attrs)
    return root


# -------------------------------------------------------------- evaluation

class Deployment:
    """The Terraform configuration, with TESTVARS in place of the variables
    a real deployment must set (bucket_name, ...) or wants otherwise."""

    def __init__(self, testvars=None, d=TF_DIR):
        self.tree = parse_dir(d)
        self.dir = Path(d)
        self.vars = {}
        for b in self.tree.find("variable"):
            if "default" in b.attrs:
                self.vars[b.labels[0]] = b.attrs["default"]
        self.vars.update(testvars or {})
        self.locals = {}
        for b in self.tree.find("locals"):
            self.locals.update(b.attrs)

    def value(self, expr, what, others=None):
        """Evaluate EXPR (a literal, var.X, local.Y, or a name in OTHERS)."""
        if isinstance(expr, (Raw, Call)):
            raise HclError("%s: cannot evaluate %r" % (what, expr))
        if isinstance(expr, Ref):
            if others and expr in others:
                return others[expr]
            if expr.startswith("var."):
                name = expr[4:]
                if name not in self.vars:
                    raise HclError("%s: variable %s has no default and no test value"
                                   % (what, name))
                return self.value(self.vars[name], what)
            if expr.startswith("local."):
                name = expr[6:]
                if name not in self.locals:
                    raise HclError("%s: no local %s" % (what, name))
                return self.value(self.locals[name], what)
            raise HclError("%s: unknown reference %s" % (what, expr))
        if isinstance(expr, list):
            return [self.value(v, what, others) for v in expr]
        if isinstance(expr, dict):
            return {k: self.value(v, what, others) for k, v in expr.items()}
        return expr

    def resource(self, rtype, name):
        return self.tree.one("resource", rtype, name)

    def target_group(self):
        """The ALB target group's health check and deregistration delay."""
        tg = self.resource("aws_lb_target_group", "presignd")
        hc = tg.one("health_check")
        out = {k: self.value(v, "health_check." + k) for k, v in hc.attrs.items()}
        out["deregistration_delay"] = self.value(tg.attrs["deregistration_delay"],
                                                 "deregistration_delay")
        out["port"] = self.value(tg.attrs["port"], "target group port")
        return out

    def load_balancer(self):
        lb = self.resource("aws_lb", "presignd")
        return {"idle_timeout": self.value(lb.attrs["idle_timeout"], "idle_timeout")}

    def hidden_paths(self):
        """The listener rule that answers 404 for /metrics: (paths, status,
        content type, body)."""
        r = self.resource("aws_lb_listener_rule", "hide_metrics")
        paths = self.value(r.one("condition").one("path_pattern").attrs["values"],
                           "path_pattern")
        fr = r.one("action").one("fixed_response")
        return (paths, self.value(fr.attrs["status_code"], "status_code"),
                self.value(fr.attrs["content_type"], "content_type"),
                self.value(fr.attrs["message_body"], "message_body"))

    def presignd_config(self, others):
        """templates/presignd.yaml.tftpl rendered with the same arguments
        as locals.presignd_config passes it; OTHERS gives the values of
        references to resources (e.g. aws_s3_bucket.files.bucket)."""
        call = self.locals.get("presignd_config")
        if not isinstance(call, Call) or call.name != "templatefile" or len(call.args) != 2:
            raise HclError("locals.presignd_config is not templatefile(PATH, {...})")
        path = call.args[0].replace("${path.module}", str(self.dir))
        args = {k: self.value(v, "templatefile argument " + k, others)
                for k, v in call.args[1].items()}
        return render_template(Path(path).read_text(), args, path), args


# ----------------------------------------------------------- templatefile

_TEMPLATE_TOKEN = re.compile(r"(\$\{|%\{)(~?)(.*?)(~?)\}", re.S)


def _tf_json(v):
    # Terraform's jsonencode: compact, with <, > and & escaped.
    s = json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _interp(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float, str)):
        return str(v)
    raise HclError("cannot interpolate %r" % (v,))


def _eval_template_expr(text, scope, where):
    text = text.strip()
    m = re.fullmatch(r"jsonencode\(\s*([A-Za-z_]\w*)\s*\)", text)
    if m:
        return _tf_json(_lookup(m.group(1), scope, where))
    m = re.fullmatch(r"([A-Za-z_]\w*)\s*(>=|<=|==|!=|>|<)\s*(\d+|\"[^\"]*\")", text)
    if m:
        a = _lookup(m.group(1), scope, where)
        b = json.loads(m.group(3))
        return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b,
                "==": a == b, "!=": a != b}[m.group(2)]
    m = re.fullmatch(r"[A-Za-z_]\w*", text)
    if m:
        return _lookup(text, scope, where)
    raise HclError("%s: template expression not supported here: %s" % (where, text))


def _lookup(name, scope, where):
    if name not in scope:
        raise HclError("%s: template refers to unknown %s" % (where, name))
    return scope[name]


def render_template(src, args, where="<template>"):
    """Terraform templatefile() for what presignd.yaml.tftpl uses: ${x},
    ${jsonencode(x)}, %{ if x > 0 }, %{ for k, v in m }, and the ~ strip
    markers."""
    # Split into literal text and tags, applying the strip markers.
    parts = []
    pos = 0
    for m in _TEMPLATE_TOKEN.finditer(src):
        text = src[pos:m.start()]
        if m.group(2) == "~":
            text = text.rstrip(" \t\r\n")
        parts.append(("text", text))
        parts.append(("interp" if m.group(1) == "${" else "directive",
                      m.group(3).strip()))
        pos = m.end()
        if m.group(4) == "~":
            while pos < len(src) and src[pos] in " \t\r":
                pos += 1
            if pos < len(src) and src[pos] == "\n":
                pos += 1
    parts.append(("text", src[pos:]))

    def run(i, scope, out, stop):
        while i < len(parts):
            kind, val = parts[i]
            if kind == "text":
                out.append(val)
                i += 1
            elif kind == "interp":
                out.append(_interp(_eval_template_expr(val, scope, where)))
                i += 1
            elif val in stop:
                return i
            elif val.startswith("if "):
                cond = _eval_template_expr(val[3:], scope, where)
                inner = []
                j = run(i + 1, scope, inner, ("endif", "else"))
                alt = []
                if parts[j][1] == "else":
                    j = run(j + 1, scope, alt, ("endif",))
                out.extend(inner if cond else alt)
                i = j + 1
            elif val.startswith("for "):
                m = re.fullmatch(r"for\s+(\w+)\s*(?:,\s*(\w+))?\s+in\s+(\w+)", val)
                if not m:
                    raise HclError("%s: unsupported for: %s" % (where, val))
                coll = _lookup(m.group(3), scope, where)
                items = (sorted(coll.items()) if isinstance(coll, dict)
                         else list(enumerate(coll)))
                j = None
                if not items:
                    j = run(i + 1, scope, [], ("endfor",))
                for k, v in items:
                    s = dict(scope)
                    if m.group(2):
                        s[m.group(1)], s[m.group(2)] = k, v
                    else:
                        s[m.group(1)] = v
                    j = run(i + 1, s, out, ("endfor",))
                i = j + 1
            else:
                raise HclError("%s: unsupported directive: %s" % (where, val))
        if stop:
            raise HclError("%s: missing %s" % (where, "/".join(stop)))
        return i

    out = []
    run(0, dict(args), out, ())
    return "".join(out)
