"""GraphiQL that works without internet access.

strawberry's GraphiQL page loads React and GraphiQL from unpkg.com, which plant networks often
cannot reach. `install_assets` fetches the same package versions from the npm registry once
(`npm pack`) into the cache folder; when they are there, the page is rewritten to load them
from this server under `ASSET_ROUTE`.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from kg_service.errors import ConfigurationError

logger = logging.getLogger(__name__)

ASSET_ROUTE = "/graphiql-assets"
CDN_PREFIX = "https://unpkg.com/"

# npm package, file inside its tarball, and the path after CDN_PREFIX that strawberry's page uses.
ASSETS = [
    ("react@18.2.0", "package/umd/react.production.min.js", "react@18.2.0/umd/react.production.min.js"),
    ("react-dom@18.2.0", "package/umd/react-dom.production.min.js",
     "react-dom@18.2.0/umd/react-dom.production.min.js"),
    ("js-cookie@3.0.5", "package/dist/js.cookie.min.js", "js-cookie@3.0.5/dist/js.cookie.min.js"),
    ("graphiql@3.8.3", "package/graphiql.min.css", "graphiql@3.8.3/graphiql.min.css"),
    ("graphiql@3.8.3", "package/graphiql.min.js", "graphiql@3.8.3/graphiql.min.js"),
    ("@graphiql/plugin-explorer@1.0.2", "package/dist/style.css", "@graphiql/plugin-explorer@1.0.2/dist/style.css"),
    ("@graphiql/plugin-explorer@1.0.2", "package/dist/index.umd.js",
     "@graphiql/plugin-explorer@1.0.2/dist/index.umd.js"),
]


def assets_dir(cache_dir: Path) -> Path:
    return cache_dir / "graphiql"


def assets_installed(cache_dir: Path) -> bool:
    folder = assets_dir(cache_dir)
    return all((folder / cdn_path).is_file() for _, _, cdn_path in ASSETS)


def install_assets(cache_dir: Path) -> Path:
    """Fetch the GraphiQL page's scripts and styles from the npm registry into the cache folder."""
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigurationError("npm is not on PATH, so GraphiQL's assets cannot be fetched; install Node.js "
                                 "(apt-get install npm) or let browsers load them from unpkg.com")
    target = assets_dir(cache_dir)
    with tempfile.TemporaryDirectory() as work:
        packages = sorted({package for package, _, _ in ASSETS})
        logger.info("fetching GraphiQL assets from the npm registry: %s", ", ".join(packages))
        result = subprocess.run([npm, "pack", "--silent", *packages], cwd=work, capture_output=True, text=True,
                                check=False, timeout=300)
        if result.returncode != 0:
            raise ConfigurationError(f"npm pack failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
        tarballs = dict(zip(packages, (Path(work) / name for name in result.stdout.split())))
        for package, member, cdn_path in ASSETS:
            with tarfile.open(tarballs[package]) as archive:
                data = archive.extractfile(member).read()
            destination = target / cdn_path
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)
    logger.info("GraphiQL assets installed in %s", target)
    return target


def offline_page(html: str) -> str:
    """Point the page's unpkg.com URLs at this server's copies (same files, so the integrity hashes hold)."""
    return html.replace(CDN_PREFIX, ASSET_ROUTE + "/")
