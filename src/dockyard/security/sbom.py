"""SBOM documents from an :class:`~dockyard.security.packages.Inventory`.

Formats
-------
``cyclonedx``: CycloneDX 1.6 JSON, written by ``cyclonedx-python-lib`` and checked by its
strict JSON-schema validator.  The image is ``metadata.component`` (type ``container``);
each package a ``library`` (Python) or ``application`` (deb) component with its purl,
licences (an SPDX id or expression where the declared text is one, a name otherwise),
and the properties ``dockyard:layer:digest``, ``dockyard:layer:index``,
``dockyard:package:path`` (and ``dockyard:deb:source`` for debs).

``spdx``: SPDX 2.3 JSON, written by ``spdx-tools`` and checked by
``validate_full_spdx_document``.  The image is a package (purpose ``CONTAINER``) that
the document DESCRIBES and that CONTAINS every other package; each package carries its
purl as a PACKAGE-MANAGER external reference, ``licenseDeclared`` where the declared
text is a valid SPDX expression (NOASSERTION otherwise, the text in
``licenseComments``), and the layer and path in its ``comment``.

Both writers validate what they produce; a document the validator refuses raises
Internal (a bug here, never the user's input).  ``SOURCE_DATE_EPOCH`` fixes the
timestamp.

Example::

    text = render(inv, "cyclonedx")   # JSON text
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from typing import Any

from dockyard import __version__
from dockyard.errors import Internal, InvalidArgument
from dockyard.security.packages import Inventory, Package

__all__ = ["FORMATS", "render", "render_cyclonedx", "render_spdx"]

FORMATS = ("cyclonedx", "spdx")


def render(inv: Inventory, fmt: str) -> str:
    """The inventory as a ``cyclonedx`` or ``spdx`` JSON document."""
    if fmt == "cyclonedx":
        return render_cyclonedx(inv)
    if fmt == "spdx":
        return render_spdx(inv)
    raise InvalidArgument(f"sbom: unknown format {fmt!r} (want one of {', '.join(FORMATS)})")


def _now() -> datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC).replace(microsecond=0)


def _is_spdx(expr: str) -> bool:
    from spdx_tools.common.spdx_licensing import spdx_licensing

    try:
        info = spdx_licensing.validate(expr, strict=True)
    except Exception:  # license-expression fails on some odd keys with its own bug
        return False
    return not info.errors


# --- CycloneDX ------------------------------------------------------------------------


def _cdx_licences(pkg: Package) -> list[Any]:
    from cyclonedx.contrib.license.exceptions import InvalidSpdxLicenseException
    from cyclonedx.contrib.license.factories import LicenseFactory

    factory = LicenseFactory()
    if len(pkg.licenses) == 1:
        return [factory.make_from_string(pkg.licenses[0])]
    out: list[Any] = []
    for text in pkg.licenses:  # several: plain licences only (no expression among them)
        try:
            out.append(factory.make_with_id(text))
        except InvalidSpdxLicenseException:
            out.append(factory.make_with_name(text))
    return out


def _cdx_component(pkg: Package, ref: str) -> Any:
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    props = [
        Property(name="dockyard:layer:digest", value=pkg.layer),
        Property(name="dockyard:layer:index", value=str(pkg.layer_index)),
        Property(name="dockyard:package:path", value=pkg.path),
    ]
    if pkg.kind == "deb":
        props.append(Property(name="dockyard:deb:source", value=pkg.source_name))
    kind = ComponentType.LIBRARY if pkg.kind == "pypi" else ComponentType.APPLICATION
    return Component(
        type=kind,
        name=pkg.name,
        version=pkg.version,
        purl=PackageURL.from_string(pkg.purl),
        bom_ref=ref,
        licenses=_cdx_licences(pkg),
        properties=props,
    )


def render_cyclonedx(inv: Inventory) -> str:
    """CycloneDX 1.6 JSON, validated."""
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    bom = Bom()
    bom.metadata.timestamp = _now()
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="dockyard", version=__version__)
    )
    bom.metadata.component = root = Component(
        type=ComponentType.CONTAINER,
        name=inv.image or inv.image_id,
        version=inv.image_id,
        bom_ref=f"image:{inv.image_id}",
    )
    seen: set[str] = set()
    for i, pkg in enumerate(inv.packages):
        ref = pkg.purl if pkg.purl not in seen else f"{pkg.purl}#{i}"
        seen.add(ref)
        component = _cdx_component(pkg, ref)
        bom.components.add(component)
        bom.register_dependency(root, [component])
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    _validate_cyclonedx(text)
    return text


def _validate_cyclonedx(text: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise Internal(f"sbom: the CycloneDX document does not validate: {error}")


# --- SPDX -----------------------------------------------------------------------------

_NAMESPACE = "https://spdx.org/spdxdocs/dockyard/"
_SPDX_ID_BAD = re.compile(r"[^A-Za-z0-9.-]+")


def _spdx_id(kind: str, name: str, i: int) -> str:
    return f"SPDXRef-Package-{kind}-{_SPDX_ID_BAD.sub('-', name)}-{i}"


def _spdx_package(pkg: Package, spdx_id: str) -> Any:
    from spdx_tools.common.spdx_licensing import spdx_licensing
    from spdx_tools.spdx.model import (
        ExternalPackageRef,
        ExternalPackageRefCategory,
        SpdxNoAssertion,
    )
    from spdx_tools.spdx.model import (
        Package as SpdxPackage,
    )

    declared: Any = SpdxNoAssertion()
    comment = None
    if pkg.licenses:
        expr = " AND ".join(f"({t})" if " " in t else t for t in pkg.licenses)
        if _is_spdx(expr):
            declared = spdx_licensing.parse(expr)
        else:
            comment = "declared: " + "; ".join(pkg.licenses)
    return SpdxPackage(
        spdx_id=spdx_id,
        name=pkg.name,
        download_location=SpdxNoAssertion(),
        version=pkg.version,
        files_analyzed=False,
        license_concluded=SpdxNoAssertion(),
        license_declared=declared,
        license_comment=comment,
        copyright_text=SpdxNoAssertion(),
        external_references=[
            ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", pkg.purl)
        ],
        comment=f"layer {pkg.layer} (index {pkg.layer_index}); path {pkg.path}",
    )


def render_spdx(inv: Inventory) -> str:
    """SPDX 2.3 JSON, validated."""
    import io
    import uuid

    from spdx_tools.spdx.model import (
        Actor,
        ActorType,
        CreationInfo,
        Document,
        PackagePurpose,
        Relationship,
        RelationshipType,
        SpdxNoAssertion,
    )
    from spdx_tools.spdx.model import (
        Package as SpdxPackage,
    )
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

    name = inv.image or inv.image_id
    info = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=name,
        document_namespace=f"{_NAMESPACE}{_SPDX_ID_BAD.sub('-', name)}-{uuid.uuid4()}",
        creators=[Actor(ActorType.TOOL, f"dockyard-{__version__}")],
        created=_now(),
    )
    image = SpdxPackage(
        spdx_id="SPDXRef-Image",
        name=name,
        download_location=SpdxNoAssertion(),
        version=inv.image_id,
        files_analyzed=False,
        primary_package_purpose=PackagePurpose.CONTAINER,
    )
    packages = [image]
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, image.spdx_id)]
    for i, pkg in enumerate(inv.packages):
        package = _spdx_package(pkg, _spdx_id(pkg.kind, pkg.name, i))
        packages.append(package)
        relationships.append(
            Relationship(image.spdx_id, RelationshipType.CONTAINS, package.spdx_id)
        )
    doc = Document(info, packages=packages, relationships=relationships)
    errors = validate_full_spdx_document(doc)
    if errors:
        raise Internal(f"sbom: the SPDX document does not validate: {errors[0].validation_message}")
    out = io.StringIO()
    write_document_to_stream(doc, out, validate=False)
    return out.getvalue()
