"""The template engine against the examples of Docker's and Go's documentation.

Sources, each case marked with where it comes from:

* Docker, "Format command and log output" (docs.docker.com/engine/cli/formatting):
  join, table, json, lower, split, title, upper, println, and the ``{{json .}}`` hint;
* Docker command references: ``inspect`` (IP and MAC address, port bindings, a port
  mapping, ``{{json .Config}}``), ``ps`` and ``images`` (``--format`` and ``table``);
* Go, ``text/template`` package documentation: the "Examples" list of pipelines,
  the trim-marker example, the ``Template`` (letter) and ``Template_block`` examples,
  and the function and variable sections.

The expected outputs are what ``docker`` and Go print for the same input.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.cli.gotemplate import Template, format_rows, render
from dockyard.errors import InvalidArgument

CONTAINER = {
    "Id": "4fa6e0f0c6786287e131c3852c58a2e01cc697a68231826813597e4994f1d6e2",
    "Name": "/MyContainer",
    "Image": "busybox:latest",
    "Args": ["-c", "echo hello"],
    "LogPath": "/var/lib/dockyard/containers/4fa6e0f0c678/4fa6e0f0c678-json.log",
    "State": {"Status": "running", "Pid": 4242, "ExitCode": 0, "Health": None},
    "Config": {"Image": "busybox", "Labels": {"com.example.vendor": "ACME"}, "Env": ["A=1"],
               "Cmd": None, "Volumes": None},
    "Mounts": [
        {"Type": "volume", "Name": "data", "Source": "/var/lib/v/data/_data",
         "Destination": "/data", "RW": True},
    ],
    "NetworkSettings": {
        "Ports": {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
            "8787/tcp": [{"HostIp": "0.0.0.0", "HostPort": "16001"}],
        },
        "Networks": {
            "bridge": {"IPAddress": "172.17.0.2", "MacAddress": "02:42:ac:11:00:02"},
            "backend": {"IPAddress": "10.0.9.3", "MacAddress": "02:42:0a:00:09:03"},
        },
    },
}  # fmt: skip

# Docker, "Format command and log output"
DOCKER_FORMATTING: list[tuple[str, str]] = [
    ('{{join .Args " , "}}', "-c , echo hello"),
    ("{{json .Mounts}}",
     '[{"Destination":"/data","Name":"data","RW":true,"Source":"/var/lib/v/data/_data",'
     '"Type":"volume"}]'),
    ("{{lower .Name}}", "/mycontainer"),
    ('{{split .Image ":"}}', "[busybox latest]"),
    ("{{title .Name}}", "/MyContainer"),
    ('{{title "hello world"}}', "Hello World"),
    ("{{upper .Name}}", "/MYCONTAINER"),
    # maps range in sorted key order: backend before bridge
    ("{{range .NetworkSettings.Networks}}{{println .IPAddress}}{{end}}",
     "10.0.9.3\n172.17.0.2\n"),
]  # fmt: skip

# Docker, "docker container inspect" reference
DOCKER_INSPECT: list[tuple[str, str]] = [
    ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "10.0.9.3172.17.0.2"),
    ("{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}",
     "02:42:0a:00:09:0302:42:ac:11:00:02"),
    ("{{.LogPath}}", "/var/lib/dockyard/containers/4fa6e0f0c678/4fa6e0f0c678-json.log"),
    ("{{.Config.Image}}", "busybox"),
    ("{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> {{(index $conf 0).HostPort}} {{end}}",
     " 80/tcp -> 8080  8787/tcp -> 16001 "),
    ('{{(index (index .NetworkSettings.Ports "8787/tcp") 0).HostPort}}', "16001"),
    ('{{(index .NetworkSettings.Ports "80/tcp" 0).HostPort}}', "8080"),
    ("{{json .Config}}",
     '{"Cmd":null,"Env":["A=1"],"Image":"busybox","Labels":{"com.example.vendor":"ACME"},'
     '"Volumes":null}'),
    ('{{index .Config.Labels "com.example.vendor"}}', "ACME"),
    # an absent label is the zero string, as docker's map[string]string gives
    ('{{index .Config.Labels "nope"}}', ""),
    # a nil pointer prints as Go prints it; a null map or slice is an empty one
    ("{{.State.Health}}", "<nil>"),
    ('{{index .Config.Volumes "/data"}}|{{len .Config.Cmd}}|{{join .Config.Cmd " "}}', "|0|"),
    ("{{if .State.Health}}health{{else}}no healthcheck{{end}}", "no healthcheck"),
    ('{{if eq .State.Status "running"}}up {{.State.Pid}}{{end}}', "up 4242"),
    ("{{.State.ExitCode | printf \"%03d\"}}", "000"),
    ('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{end}}', "com.example.vendor=ACME"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "expected"), DOCKER_FORMATTING + DOCKER_INSPECT)
def test_docker_examples(template: str, expected: str) -> None:
    assert render(template, CONTAINER) == expected


# Go, text/template: "Examples" — every one prints "output" in double quotes
GO_EXAMPLES = [
    '{{"\\"output\\""}}',
    '{{`"output"`}}',
    '{{printf "%q" "output"}}',
    '{{"output" | printf "%q"}}',
    '{{printf "%q" (print "out" "put")}}',
    '{{"put" | printf "%s%s" "out" | printf "%q"}}',
    '{{"output" | printf "%s" | printf "%q"}}',
    '{{with "output"}}{{printf "%q" .}}{{end}}',
    '{{with $x := "output" | printf "%q"}}{{$x}}{{end}}',
    '{{with $x := "output"}}{{printf "%q" $x}}{{end}}',
    '{{with $x := "output"}}{{$x | printf "%q"}}{{end}}',
]


@pytest.mark.parametrize("template", GO_EXAMPLES)
def test_go_doc_examples(template: str) -> None:
    assert Template(template).execute(None) == '"output"'


LETTER = """
Dear {{.Name}},
{{if .Attended}}
It was a pleasure to see you at the wedding.
{{- else}}
It is a shame you couldn't make it to the wedding.
{{- end}}
{{with .Gift -}}
Thank you for the lovely {{.}}.
{{end}}
Best wishes,
Josie
"""


@pytest.mark.parametrize(
    ("recipient", "expected"),
    [
        ({"Name": "Aunt Mildred", "Gift": "bone china tea set", "Attended": True},
         "\nDear Aunt Mildred,\n\nIt was a pleasure to see you at the wedding.\n"
         "Thank you for the lovely bone china tea set.\n\nBest wishes,\nJosie\n"),
        ({"Name": "Uncle John", "Gift": "moleskin pants", "Attended": False},
         "\nDear Uncle John,\n\nIt is a shame you couldn't make it to the wedding.\n"
         "Thank you for the lovely moleskin pants.\n\nBest wishes,\nJosie\n"),
        ({"Name": "Cousin Rodney", "Gift": "", "Attended": False},
         "\nDear Cousin Rodney,\n\nIt is a shame you couldn't make it to the wedding.\n"
         "\nBest wishes,\nJosie\n"),
    ],
)  # fmt: skip
def test_go_example_template_letter(recipient: dict[str, object], expected: str) -> None:
    """Go's ``ExampleTemplate``: trim markers, ``if``/``else``, ``with``."""
    assert Template(LETTER).execute(recipient) == expected


def test_go_example_template_block() -> None:
    master = 'Names:{{block "list" .}}{{"\\n"}}{{range .}}{{println "-" .}}{{end}}{{end}}'
    guardians = ["Gamora", "Groot", "Nebula", "Rocket", "Star-Lord"]
    assert Template(master).execute(guardians) == (
        "Names:\n- Gamora\n- Groot\n- Nebula\n- Rocket\n- Star-Lord\n"
    )


GO_DATA = {
    "a": 1, "b": "", "n": 2, "f": 3.5, "s": "héllo", "l": [1, "two", 3.5], "e": [],
    "m": {"z": 26, "a": 1, "k": "v"}, "nums": {"10": "ten", "9": "nine"}, "nil": None,
}  # fmt: skip

GO_SEMANTICS: list[tuple[str, str | None]] = [
    # text/template: "Text and spaces"
    ("{{23 -}} < {{- 45}}", "23<45"),
    ("a {{/* a comment */}} b", "a  b"),
    ("a {{- /* trimmed comment */ -}} b", "ab"),
    # Go's default: a missing map key prints <no value> (JSON null too, after Go's unwrap)
    ("{{.nope}}", "<no value>"),
    ("{{.nope.deeper}}", "<no value>"),
    ("{{.nil}}", "<no value>"),
    # printing as fmt: maps sorted by key, lists in brackets, floats shortest
    ("{{.m}}", "map[a:1 k:v z:26]"),
    ("{{.l}}", "[1 two 3.5]"),
    ("{{1e6}} {{1.5}} {{0x1F}} {{0755}} {{'a'}} {{1_000}}", "1e+06 1.5 31 493 97 1000"),
    # functions: and/or return the operand that decided, and short-circuit
    ("{{and 1 0 2}}|{{and 1 2}}|{{or 0 \"\" \"x\"}}|{{or 0 \"\"}}", "0|2|x|"),
    ("{{or .a (index .l 99)}}", "1"),  # (index .l 99) would fail: never evaluated
    ("{{and .b (index .l 99)}}", ""),
    ("{{not 0}} {{not .l}} {{not .e}}", "true false true"),
    ("{{len .s}} {{len .l}} {{len .m}}", "6 3 3"),  # len of a string counts bytes
    ("{{index .l 1}} {{index .m \"k\"}} {{slice .l 1 2}} {{slice \"abcdef\" 2}}",
     "two v [two] cdef"),
    ("{{print 1 2 \"a\" 3 \"b\" \"c\"}}", "1 2a3bc"),
    ("{{println 1 \"a\"}}", "1 a\n"),
    ('{{html "<a href=\\"x\\">&</a>"}}', "&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt;"),
    ('{{urlquery "a b&c=d"}}', "a+b%26c%3Dd"),
    ('{{js "it\'s <x>"}}', "it\\'s \\u003Cx\\u003E"),
    # comparisons
    ("{{eq .n 1 3 2}} {{eq .n 1}} {{ne .n 2}}", "true false false"),
    ('{{eq "a" "a"}} {{lt "a" "b"}} {{le 2 2}} {{gt 3.5 .f}} {{ge .f 3.5}}',
     "true true true false true"),
    ('{{"a" | eq "a"}}', "true"),
    ("{{if eq .n 1}}one{{else if eq .n 2}}two{{else}}many{{end}}", "two"),
    ("{{with .nope}}x{{else with .n}}n={{.}}{{end}}", "n=2"),
    ("{{with .nope}}x{{else}}none{{end}}", "none"),
    # range: index/element, key/value in sorted order, else, break, continue, integers
    ("{{range $i, $e := .l}}{{$i}}:{{$e}} {{end}}", "0:1 1:two 2:3.5 "),
    ("{{range $k, $v := .m}}{{$k}}={{$v}};{{end}}", "a=1;k=v;z=26;"),
    ("{{range $k, $v := .nums}}{{$k}} {{end}}", "10 9 "),  # string keys sort bytewise
    ("{{range $e := .l}}<{{$e}}>{{end}}", "<1><two><3.5>"),
    ("{{range .e}}x{{else}}empty{{end}}", "empty"),
    ("{{range .nope}}x{{else}}absent{{end}}", "absent"),
    ("{{range .l}}{{if eq (print .) \"two\"}}{{break}}{{end}}{{.}}{{end}}", "1"),
    ('{{eq 1 "1"}}', None),  # Go refuses to compare an int with a string
    ("{{range $i, $_ := .l}}{{if eq $i 1}}{{continue}}{{end}}{{$i}}{{end}}", "02"),
    ("{{range 3}}{{.}}{{end}}", "012"),
    # variables: declared in scope, assigned from inside a range, $ the root
    ("{{$x := 1}}{{range .l}}{{$x = .}}{{end}}{{$x}}", "3.5"),
    ("{{$x := .n}}{{with .m}}{{$x}}-{{.k}}-{{$.n}}{{end}}", "2-v-2"),
    ("{{range .l}}{{$.a}}{{end}}", "111"),
    # parentheses and chains on any operand
    ('{{(index .m "k" | printf "%s!")}}', "v!"),
    ("{{(.m).k}}", "v"),
    ('{{define "T"}}[{{.}}]{{end}}{{template "T" .n}}{{template "T"}}', "[2][<no value>]"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "expected"), GO_SEMANTICS)
def test_go_semantics(template: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(InvalidArgument, match="incompatible types for comparison"):
            Template(template).execute(GO_DATA)
        return
    assert Template(template).execute(GO_DATA) == expected


PRINTF = [
    ('{{printf "%-20s|" "name"}}', "name                |"),
    ('{{printf "%20s|" "name"}}', "                name|"),
    ('{{printf "%5d|%-5d|%05d" 42 42 -42}}', "   42|42   |-0042"),
    ('{{printf "%q %v %x %X %o %b" "hi" .l 255 255 8 5}}', '"hi" [1 two 3.5] ff FF 10 101'),
    ('{{printf "%x % x %#x" "hi" "hi" 255}}', "6869 68 69 0xff"),
    ('{{printf "%.2f %8.3f %e %g %v" 3.14159 2.5 1234.5 0.00001 1e21}}',
     "3.14    2.500 1.234500e+03 1e-05 1e+21"),
    ('{{printf "%+d %t %c %U %%" 5 true 65 65}}', "+5 true A U+0041 %"),
    ('{{printf "%.3s|%6.2s|" "abcdef" "abcdef"}}', "abc|    ab|"),
    ('{{printf "%*d|%-*d|" 4 7 4 7}}', "   7|7   |"),
    ('{{printf "%T %T %T %T %T" 1 1.5 "s" .l .m}}',
     "int float64 string []interface {} map[string]interface {}"),
    ('{{printf "%d" "x"}}', "%!d(string=x)"),
    ('{{printf "%d %s"}}', "%!d(MISSING) %!s(MISSING)"),
    ('{{printf "%d" 1 "extra"}}', "1%!(EXTRA string=extra)"),
    ('{{printf "%s" .nil}}', "%!s(<nil>)"),
    ('{{printf "%v" .m}}', "map[a:1 k:v z:26]"),
    ('{{printf "%5.1f%%" 99.44}}', " 99.4%"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "expected"), PRINTF)
def test_printf_go_verbs(template: str, expected: str) -> None:
    assert Template(template).execute(GO_DATA) == expected


DOCKER_HELPERS = [
    ('{{join .Args ", "}}', "-c, echo hello"),
    ('{{truncate .Id 12}}', "4fa6e0f0c678"),
    ('{{truncate "abc" 12}}', "abc"),
    ('[{{pad .Image 2 1}}]', "[  busybox:latest ]"),
    ('[{{pad "" 2 1}}]', "[]"),  # pad leaves an empty string empty
    ('{{split "a,b,,c" ","}}', "[a b  c]"),
    ('{{title "hello-world foo_bar it\'s"}}', "Hello-World Foo_bar It's"),
    ('{{.Name | lower | upper}}', "/MYCONTAINER"),
    ('{{json .State.Health}} {{json .Args}} {{json 1.0}} {{json "<&>"}}',
     'null ["-c","echo hello"] 1 "<&>"'),
]  # fmt: skip


@pytest.mark.parametrize(("template", "expected"), DOCKER_HELPERS)
def test_docker_helpers(template: str, expected: str) -> None:
    assert render(template, CONTAINER) == expected


def test_callables_in_data_are_methods_with_arguments() -> None:
    """docker's formatter contexts have methods (``{{.Label "com.example"}}``)."""
    row = {"Name": "web", "Label": lambda key: {"tier": "front"}.get(key, "")}
    assert render('{{.Label "tier"}}|{{"tier" | .Label}}|{{.Label "x"}}', row) == "front|front|"
    assert render("{{json .}}", row) == '{"Name":"web"}'
    with pytest.raises(InvalidArgument, match="wrong number of args for Label"):
        render("{{.Label}}", row)


def test_template_is_parsed_once_and_reused() -> None:
    from dockyard.cli.gotemplate import parse

    assert parse("{{.A}} cached") is parse("{{.A}} cached")


# -- list commands: docker's formatter (table, json, plain) ----------------------

IMAGES = [
    {"ID": "a416a98b71e2", "Repository": "busybox", "Tag": "latest", "Size": "4.26MB"},
    {"ID": "05455a08881e", "Repository": "docker.io/example/long-name", "Tag": "1.0",
     "Size": "7.8MB"},
]  # fmt: skip
IMAGE_HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Size": "SIZE"}


def test_table_directive_as_docker_prints_it() -> None:
    """Docker's formatting page: ``docker image list --format "table {{.ID}}\\t..."``."""
    fmt = "table {{.ID}}\\t{{.Repository}}\\t{{.Tag}}\\t{{.Size}}"
    assert format_rows(fmt, IMAGES, IMAGE_HEADERS) == (
        "IMAGE ID       REPOSITORY                    TAG       SIZE\n"
        "a416a98b71e2   busybox                       latest    4.26MB\n"
        "05455a08881e   docker.io/example/long-name   1.0       7.8MB\n"
    )


def test_table_header_keeps_titles_through_functions() -> None:
    # upper/lower/... return the title unchanged in the header row; pad is applied
    out = format_rows("table {{lower .Repository}}\\t{{truncate .ID 4}}", IMAGES, IMAGE_HEADERS)
    assert out.splitlines() == [
        "REPOSITORY                    IMAGE ID",
        "busybox                       a416",
        "docker.io/example/long-name   0545",
    ]


def test_table_alone_is_the_default_table_and_empty_lists_keep_the_header() -> None:
    assert format_rows("table", IMAGES[:1], IMAGE_HEADERS, "{{.Repository}}\t{{.Tag}}") == (
        "REPOSITORY   TAG\nbusybox      latest\n"
    )
    assert format_rows("table {{.ID}}\\t{{.Tag}}", [], IMAGE_HEADERS) == "IMAGE ID   TAG\n"


def test_format_json_is_one_object_a_line() -> None:
    out = format_rows("json", IMAGES, IMAGE_HEADERS)
    assert out == (
        '{"ID":"a416a98b71e2","Repository":"busybox","Size":"4.26MB","Tag":"latest"}\n'
        '{"ID":"05455a08881e","Repository":"docker.io/example/long-name","Size":"7.8MB",'
        '"Tag":"1.0"}\n'
    )


def test_plain_template_per_row_with_shell_escapes() -> None:
    """Docker's ``images`` reference: ``--format "{{.ID}}: {{.Repository}}"``."""
    assert format_rows("{{.ID}}: {{.Repository}}", IMAGES, IMAGE_HEADERS) == (
        "a416a98b71e2: busybox\n05455a08881e: docker.io/example/long-name\n"
    )
    assert format_rows("{{.Tag}}\\t{{.Size}}", IMAGES[:1], IMAGE_HEADERS) == "latest\t4.26MB\n"


# -- errors: one line, with the position ------------------------------------------

BAD = [
    ("{{.State", "template: :1:8: unclosed action"),
    ("{{end}}", "template: :1:2: unexpected {{end}}"),
    ("{{frob .X}}", 'template: :1:2: function "frob" not defined'),
    ("{{if .x}}", "template: :1:9: unexpected EOF in if"),
    ("{{$y}}", 'template: :1:2: undefined variable "$y"'),
    ('{{"abc}}', "template: :1:2: unterminated quoted string"),
    ("{{(.a}}", "template: :1:5: unclosed left paren"),
    ("{{.a)}}", "template: :1:4: unexpected right paren"),
    ("{{.a-b}}", "template: :1:4: bad character U+002D '-'"),
    ("{{/* x }}", "template: :1:0: unclosed comment"),
    ("line one\n  {{.x | 3}}", "template: :2:9: non executable command in pipeline stage 2"),
    ("{{break}}", "template: :1:2: {{break}} outside {{range}}"),
    ("{{. | 3}}", "template: :1:6: non executable command in pipeline stage 2"),
    ("{{3abc}}", 'template: :1:2: bad number syntax: "3a"'),
    ("{{.Nope}}", 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'),
    ("{{.State.Health.Status}}",
     'executing "" at <.State.Health.Status>: nil pointer evaluating interface {}.Status'),
    ("{{index .Args 5}}", "error calling index: index out of range: 5"),
    ("{{upper .State.Pid}}",  # reported at the argument, as Go's evalArg does
     'template: :1:14: executing "" at <.State.Pid>: wrong type for value; expected string; '
     "got int"),
    ("{{lt .State.Pid 1.5}}", "error calling lt: incompatible types for comparison"),
    ("{{join .Args}}", "wrong number of args for join: want 2 got 1"),
    ("{{.Name 1}}", "Name is not a method but has arguments"),
    ("{{range .Name}}{{end}}", "range can't iterate over /MyContainer"),
    ('{{template "missing"}}', 'at <{{template "missing"}}>: template "missing" not defined'),
    ("{{.Name}", "template: :1:7: bad character U+007D '}'"),
    ("{{.Name #}}", 'template: :1:8: unexpected "#" in operand'),
    ("{{slice .Args 2 1}}", "error calling slice: invalid slice index: 2 > 1"),
    ('{{define "a"}}{{template "a"}}{{end}}{{template "a"}}',
     "template: exceeded maximum template depth"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "message"), BAD)
def test_bad_templates_are_one_line_errors_naming_the_position(template: str, message: str) -> None:
    """``template: :LINE:COL: ...`` with Go's columns, counted in bytes from 0."""
    with pytest.raises(InvalidArgument) as err:
        render(template, CONTAINER)
    text = str(err.value)
    assert message in text
    assert "\n" not in text


def test_cli_bad_format_is_one_line_and_non_zero(tmp_path: Path) -> None:
    """Through the real command line: no traceback, exit status 1 (docker gives 1 too)."""
    out = subprocess.run(
        [sys.executable, "-m", "dockyard.cli.main", "--root", str(tmp_path), "version",
         "--format", "{{.Version"],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode != 0
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert lines == ["dockyard: template: :1:10: unclosed action"], out.stderr
