"""The Docker image's build as the tests do it (tests/support/container_image.py): cold and warm.

    python bench/image_build.py          # warm: inputs unchanged, the cached images found (seconds)
    python bench/image_build.py --cold   # first removes the test's images and the stand-in base (minutes; network)

Prints the seconds the stand-in base and the image took, as JSON. Needs podman, buildah and
mmdebstrap, and root (podman's store in /var/lib/containers).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from tests.support.container_image import APP_REPOSITORY, BASE_IMAGE, ensure_app_image, ensure_base_image  # noqa: E402


def remove_images():
    listed = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", APP_REPOSITORY],
                            capture_output=True, text=True, check=True).stdout.split()
    for image in [*listed, BASE_IMAGE]:
        subprocess.run(["podman", "rmi", "--force", image], capture_output=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="remove the cached images first")
    args = parser.parse_args(argv)
    if args.cold:
        remove_images()
    with tempfile.TemporaryDirectory() as scratch:
        started = time.monotonic()
        ensure_base_image(Path(scratch))
        base = time.monotonic() - started
        image = ensure_app_image(REPO_ROOT, Path(scratch))
        total = time.monotonic() - started
    print(json.dumps({"cold": args.cold, "image": image, "base_seconds": round(base, 1),
                      "image_seconds": round(total - base, 1), "total_seconds": round(total, 1)}))


if __name__ == "__main__":
    main()
