"""Install, start, stop and inspect the local Neo4j Community server.

The jars that Maven resolves from `pom.xml` go to `<cache_dir>/neo4j-<version>/lib` once and are
shared by every state folder (the tests run their own server beside the user's). Layout under
`<state_dir>/neo4j/`:

- `data/`, `logs/`: the database and Neo4j's own logs (`logs/debug.log`);
- `launcher.log`: stdout and stderr of the launcher JVM;
- `password`: the generated password of the user `neo4j` (file mode 0600);
- `neo4j.pid`, `server.json`: the running process and where it listens.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kg_service.config import PACKAGE_DIR, Settings
from kg_service.errors import Neo4jServerError

logger = logging.getLogger(__name__)

POM_FILE = PACKAGE_DIR / "neo4j_server" / "pom.xml"
LAUNCHER_SOURCE = PACKAGE_DIR / "neo4j_server" / "Neo4jLauncher.java"
LAUNCHER_CLASS = "Neo4jLauncher"
STOP_TIMEOUT_S = 60.0
NEO4J_VERSION = re.search(r"<neo4j.version>([^<]+)</neo4j.version>", POM_FILE.read_text(encoding="utf-8")).group(1)


@dataclass(frozen=True)
class ServerStatus:
    """Whether the local server runs, with its process id and Bolt URI."""

    running: bool
    pid: int | None
    uri: str
    home: Path
    # Where the running server listens (server.json), when that differs from `uri`, the configured address.
    running_uri: str | None = None

    def describe(self) -> str:
        if self.running and self.running_uri:
            return (f"Neo4j is running (pid {self.pid}) at {self.running_uri}, not at the configured {self.uri}; "
                    f"set KG_BOLT_PORT to the running port, or stop it with 'kg-service neo4j stop' and start it "
                    "again")
        if self.running:
            return f"Neo4j is running (pid {self.pid}) at {self.uri}, data in {self.home / 'data'}"
        return f"Neo4j is not running (home {self.home}); start it with 'kg-service neo4j start'"


class LocalNeo4j:
    """The Neo4j Community server that kg-service runs under its state folder.

    Usage::

        server = LocalNeo4j(get_settings())
        server.start()          # downloads jars on first use, returns once Bolt responds
        print(server.status().describe())
        server.stop()
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.neo4j_home
        runtime_dir = settings.cache_dir / f"neo4j-{NEO4J_VERSION}"
        self.lib_dir = runtime_dir / "lib"
        self.classes_dir = runtime_dir / "classes"
        self.password_file = self.home / "password"
        self.pid_file = self.home / "neo4j.pid"
        self.launcher_log = self.home / "launcher.log"
        self.uri = f"bolt://{settings.bolt_host}:{settings.bolt_port}"

    # Installation

    def install(self) -> None:
        """Resolve the pinned Neo4j jars with Maven into `lib/` and compile the launcher."""
        if not (self.lib_dir / ".complete").is_file():
            self._resolve_jars()
        self._compile_launcher()

    def _resolve_jars(self) -> None:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise Neo4jServerError("Maven ('mvn') is not on PATH; install Maven 3.8+ (apt-get install maven) "
                                   "or set NEO4J_URI to use an existing Neo4j server")
        self.lib_dir.mkdir(parents=True, exist_ok=True)
        logger.info("resolving Neo4j jars from Maven Central into %s (first start only)", self.lib_dir)
        command = [mvn, "-B", "-q", "-f", str(POM_FILE), "dependency:copy-dependencies",
                   f"-DoutputDirectory={self.lib_dir}", "-DincludeScope=runtime"]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-4000:]
            raise Neo4jServerError(f"Maven could not resolve the Neo4j jars (exit {result.returncode}):\n{output}")
        (self.lib_dir / ".complete").write_text("ok\n", encoding="utf-8")

    def _compile_launcher(self) -> None:
        target = self.classes_dir / f"{LAUNCHER_CLASS}.class"
        if target.is_file() and target.stat().st_mtime >= LAUNCHER_SOURCE.stat().st_mtime:
            return
        javac = _java_tool("javac")
        self.classes_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([javac, "-d", str(self.classes_dir), "-cp", f"{self.lib_dir}/*", str(LAUNCHER_SOURCE)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise Neo4jServerError(f"javac failed on {LAUNCHER_SOURCE}:\n{result.stderr[-4000:]}")

    # Password

    def password(self) -> str:
        """Return the generated password, creating it on first use."""
        if not self.password_file.is_file():
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(24) + "\n")
            logger.info("generated a Neo4j password in %s", self.password_file)
        return self.password_file.read_text(encoding="utf-8").strip()

    # Life cycle

    def status(self) -> ServerStatus:
        pid = self._read_pid()
        running = pid is not None and _process_alive(pid)
        running_uri = self._recorded_uri() if running else None
        return ServerStatus(running=running, pid=pid if running else None, uri=self.uri, home=self.home,
                            running_uri=running_uri if running_uri not in (None, self.uri) else None)

    def _recorded_uri(self) -> str | None:
        """Return the Bolt URI that `start` recorded in server.json, or None when it cannot be read."""
        try:
            return json.loads((self.home / "server.json").read_text(encoding="utf-8")).get("uri")
        except (OSError, ValueError, AttributeError):
            return None

    def start(self) -> ServerStatus:
        """Start the server in the background and return once Bolt responds to a query."""
        current = self.status()
        if current.running and current.running_uri:
            raise Neo4jServerError(current.describe())
        if current.running:
            logger.info("Neo4j already running (pid %s) at %s", current.pid, self.uri)
            self._wait_until_ready(time.monotonic() + self.settings.neo4j_start_timeout_s, current.pid)
            return current
        if _port_in_use(self.settings.bolt_host, self.settings.bolt_port):
            raise Neo4jServerError(
                f"port {self.settings.bolt_port} on {self.settings.bolt_host} is already in use by another process; "
                "stop it, choose another port with KG_BOLT_PORT, or point NEO4J_URI at that server")

        self.install()
        password = self.password()
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(parents=True, exist_ok=True)

        java = _java_tool("java")
        classpath = os.pathsep.join([str(self.classes_dir), f"{self.lib_dir}/*"])
        command = [java, f"-Xmx{self.settings.neo4j_heap}", "-XX:+UseG1GC", "-Dfile.encoding=UTF-8",
                   "-cp", classpath, LAUNCHER_CLASS, str(self.home), self.settings.bolt_host,
                   str(self.settings.bolt_port), str(self.password_file), self.settings.neo4j_page_cache]
        logger.info("starting Neo4j 5.26 on %s (home %s)", self.uri, self.home)
        with open(self.launcher_log, "ab") as log_handle:
            process = subprocess.Popen(command, stdout=log_handle, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid_file.write_text(f"{process.pid}\n", encoding="utf-8")
        (self.home / "server.json").write_text(json.dumps({"pid": process.pid, "uri": self.uri}), encoding="utf-8")

        deadline = time.monotonic() + self.settings.neo4j_start_timeout_s
        try:
            self._wait_until_ready(deadline, process.pid, password)
        except Neo4jServerError:
            self._terminate(process.pid)
            raise
        logger.info("Neo4j is ready at %s (pid %s)", self.uri, process.pid)
        return self.status()

    def stop(self) -> bool:
        """Stop the server cleanly; return False when it was not running."""
        pid = self._read_pid()
        if pid is None or not _process_alive(pid):
            self.pid_file.unlink(missing_ok=True)
            return False
        logger.info("stopping Neo4j (pid %s)", pid)
        self._terminate(pid)
        logger.info("Neo4j stopped")
        return True

    # Helpers

    def _wait_until_ready(self, deadline: float, pid: int | None, password: str | None = None) -> None:
        from neo4j import GraphDatabase
        from neo4j.exceptions import Neo4jError, ServiceUnavailable, DriverError

        password = password or self.password()
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if pid is not None and not _process_alive(pid):
                raise Neo4jServerError(f"Neo4j exited during start-up.\n{self.log_tail()}")
            try:
                # A plain session.run does not retry, so start-up polling stays quiet in the driver's log.
                with GraphDatabase.driver(self.uri, auth=(self.settings.neo4j_user, password),
                                          connection_timeout=2.0) as driver:
                    with driver.session(database=self.settings.neo4j_database) as session:
                        session.run("RETURN 1").consume()
                return
            except (ServiceUnavailable, Neo4jError, DriverError, OSError) as error:
                last_error = error
                time.sleep(0.5)
        raise Neo4jServerError(
            f"Neo4j did not respond on {self.uri} within {self.settings.neo4j_start_timeout_s:.0f} s "
            f"(last error: {last_error}); raise KG_NEO4J_START_TIMEOUT_S if the machine is slow.\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """Return the last lines of the launcher log and of Neo4j's debug.log."""
        parts = []
        for path in (self.launcher_log, self.home / "logs" / "debug.log"):
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
                parts.append(f"--- last {len(text)} lines of {path} ---\n" + "\n".join(text))
        return "\n".join(parts) if parts else "(no Neo4j log written yet)"

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text(encoding="utf-8").strip())
        except (FileNotFoundError, ValueError):
            return None

    def _terminate(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and _process_alive(pid):
            time.sleep(0.2)
        if _process_alive(pid):
            logger.warning("Neo4j (pid %s) did not stop within %.0f s; killing it", pid, STOP_TIMEOUT_S)
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (exited, not reaped) still passes the kill(0) check, so /proc is read to tell it apart.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        if state == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            return False
    except (OSError, IndexError):
        pass
    return True


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _java_tool(name: str) -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / name).is_file():
        return str(Path(java_home) / "bin" / name)
    found = shutil.which(name)
    if found is None:
        raise Neo4jServerError(f"'{name}' is not on PATH; install a Java 17 JDK (apt-get install openjdk-17-jdk-headless) "
                               "or set JAVA_HOME")
    return found
