"""Our image-spec parsers against the corpus: the spec's examples and schema tests.

Every valid case must parse, every invalid one must be refused.  The schema
is also run through python-jsonschema (draft 4, refs resolved by basename) to
show where our parser is stricter than the schema alone (the semantic checks
listed in the corpus' oci/README.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import image as im
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import sha256_digest

pytestmark = pytest.mark.corpus

PARSERS: dict[str, Callable[[bytes], object]] = {
    mt.OCI_DESCRIPTOR: im.parse_descriptor,
    mt.OCI_MANIFEST: im.parse_manifest,
    mt.OCI_INDEX: im.parse_index,
    mt.OCI_CONFIG: im.parse_config,
    mt.OCI_LAYOUT_HEADER: im.parse_layout,
}


def _cases(corpus: Path, sub: str) -> list[dict[str, object]]:
    return list(json.loads((corpus / "oci/image-spec" / sub / "INDEX.json").read_text()))


@pytest.fixture(scope="module")
def spec(corpus_dir: Path) -> Path:
    path = corpus_dir / "oci/image-spec"
    if not path.is_dir():
        pytest.skip("corpus has no oci/image-spec")
    return path


@pytest.mark.parametrize("sub", ["examples", "schema-tests"])
def test_every_case_as_expected(spec: Path, sub: str) -> None:
    wrong = []
    cases = _cases(spec.parent.parent, sub)
    assert cases
    for case in cases:
        data = (spec / sub / str(case["file"])).read_bytes()
        parse = PARSERS[str(case["mediatype"])]
        try:
            parse(data)
            got = "valid"
        except InvalidArgument as e:
            got = "invalid"
            assert "\n" not in str(e)
        if got != case["expect"]:
            wrong.append(f"{case['file']}: expected {case['expect']}, got {got}")
    assert not wrong


def test_docker_compat_digests_are_of_exact_bytes(spec: Path) -> None:
    for case in _cases(spec.parent.parent, "schema-tests"):
        if "expected_digest_of_exact_bytes" not in case:
            continue
        data = (spec / "schema-tests" / str(case["file"])).read_bytes()
        doc = PARSERS[str(case["mediatype"])](data)
        assert str(doc.digest()) == case["expected_digest_of_exact_bytes"]  # type: ignore[attr-defined]
        assert str(sha256_digest(data)) == case["expected_digest_of_exact_bytes"]


def test_semantic_checks_beyond_the_schema(spec: Path) -> None:
    """The 4 invalid cases the schema alone lets through are refused by us."""
    jsonschema = pytest.importorskip("jsonschema")
    schema_dir = spec / "schema"
    store = {p.name: json.loads(p.read_text()) for p in schema_dir.glob("*.json")}

    def by_basename(uri: str) -> object:
        return store[uri.rsplit("/", 1)[-1]]

    schemas = {
        mt.OCI_DESCRIPTOR: "content-descriptor.json",
        mt.OCI_MANIFEST: "image-manifest-schema.json",
        mt.OCI_INDEX: "image-index-schema.json",
        mt.OCI_CONFIG: "config-schema.json",
        mt.OCI_LAYOUT_HEADER: "image-layout-schema.json",
    }
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        resolver_cls = jsonschema.RefResolver
        passed_schema_only = []
        for case in _cases(spec.parent.parent, "schema-tests"):
            if case["expect"] != "invalid":
                continue
            try:
                doc = json.loads((spec / "schema-tests" / str(case["file"])).read_bytes())
            except ValueError:
                continue
            schema = store[schemas[str(case["mediatype"])]]
            resolver = resolver_cls(
                "", schema, handlers={"http": by_basename, "https": by_basename}
            )
            validator = jsonschema.Draft4Validator(schema, resolver=resolver)
            if validator.is_valid(doc):
                passed_schema_only.append(str(case["file"]))
    assert passed_schema_only  # the schema alone is not enough ...
    for name in passed_schema_only:  # ... and our parsers catch each of these
        case = next(c for c in _cases(spec.parent.parent, "schema-tests") if c["file"] == name)
        with pytest.raises(InvalidArgument):
            PARSERS[str(case["mediatype"])]((spec / "schema-tests" / name).read_bytes())
