"""``dockyard build --sbom``: the image's SBOM attached to it as an OCI artifact.

The SBOM is the CycloneDX 1.6 JSON of ``dockyard sbom`` (``security/sbom.py``); it is
stored as a referrer of the image manifest (``store/referrers.py``): an OCI image
manifest with ``artifactType: application/vnd.cyclonedx+json``, the empty config, the
document as its one layer and ``subject`` = the image.  ``dockyard push`` pushes it
after the image; a registry then lists it under ``GET /v2/<name>/referrers/<digest>``.
The annotation ``org.opencontainers.image.created`` says when it was made
(``SOURCE_DATE_EPOCH`` honoured, like the document's own timestamp).  An image that
already has a CycloneDX referrer keeps it: a rebuild that gives the same image (every
step cached) would only add a copy that differs in its timestamps.

Errors: those of ``inventory`` and ``render`` (the image's layers must be readable).
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.oci.digest import Digest
    from dockyard.store.images import Image, ImageStore

__all__ = ["CYCLONEDX_JSON", "attach_sbom"]

CYCLONEDX_JSON = "application/vnd.cyclonedx+json"


def attach_sbom(store: ImageStore, image: Image, name: str = "") -> tuple[Digest, bool]:
    """Make the CycloneDX SBOM of ``image`` and attach it; return the artifact's digest
    and whether it is new (False: the image had one already, which is kept)."""
    from dockyard.security.packages import inventory
    from dockyard.security.sbom import render_cyclonedx
    from dockyard.store.referrers import attach, referrers

    for digest, manifest in referrers(store, image.manifest_digest):
        if manifest.artifact_type == CYCLONEDX_JSON:
            return digest, False

    document = render_cyclonedx(inventory(store, image, name)).encode()
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    when = time.gmtime(int(epoch)) if epoch.isdigit() else time.gmtime()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", when)
    digest = attach(
        store,
        image,
        CYCLONEDX_JSON,
        document,
        annotations={"org.opencontainers.image.created": created},
    )
    return digest, True
