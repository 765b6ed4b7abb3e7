"""The security documentation stays true to the code it describes.

* Every test reference (``tests/x.py::test_name`` or ``tests/x.py::test_name[id]``)
  in THREAT_MODEL.md and docs/*.md names an existing test file, a test
  function defined in it and, when given, a parametrize id spelled in it.
* Every relative Markdown link points at an existing path.
* Every ``docs/examples/*.yaml`` loads (``jwtgate.config.load_config``),
  compiles (``jwtgate.gateway.compile_gateway``) and passes the worker check
  that ``jwtgate serve`` runs before binding.
* Every YAML fragment in the docs is an excerpt of one of those examples.
* Every ``jwtgate ...`` command shown in a shell block parses with the real
  command-line parser.
* The error-code table of docs/security.md lists every error class.
* The leaked-key runbook does what it says.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import re
import shlex
from functools import cache
from pathlib import Path

import pytest
import yaml

from jwtgate.cli.main import main as cli_main
from jwtgate.cli.parser import build_parser
from jwtgate.config import JwtGateConfig, load_config
from jwtgate.csrf import cookie_names
from jwtgate.errors import JwtGateError
from jwtgate.gateway import check_workers, compile_gateway
from jwtgate.jose import Keyring

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "THREAT_MODEL.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.yaml"))
# Placeholder values for the ${NAME} secrets the examples take from the environment.
EXAMPLE_ENV = {
    "JWTGATE_DATABASE_URL": "postgresql://jwtgate@db.internal:5432/jwtgate",
    "JWTGATE_REDIS_URL": "redis://redis.internal:6379/0",
}

_TEST_REF = re.compile(r"(tests/[\w./-]+\.py)::(\w+)(?:\[([^\]\n]+)\])?")
_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
_YAML_FENCE = re.compile(r"```yaml\n(.*?)```", re.S)
_FENCE = re.compile(r"```(?:sh|shell|console|bash)\n(.*?)```", re.S)


def _doc_ids() -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in DOCS]


@cache
def _source(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def _test_functions(path: Path) -> frozenset[str]:
    tree = ast.parse(_source(path))
    return frozenset(
        n.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test_")
    )


def test_the_documents_exist() -> None:
    names = {p.name for p in DOCS}
    assert {"THREAT_MODEL.md", "deployment.md", "security.md"} <= names
    assert EXAMPLES, "docs/examples/*.yaml"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_ids())
def test_every_test_reference_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    refs = _TEST_REF.findall(text)
    if doc.name == "THREAT_MODEL.md":
        assert len(refs) >= 50, "the threat model links each threat to its tests"
    for file, func, case in refs:
        path = ROOT / file
        assert path.is_file(), f"{doc.name}: {file} does not exist"
        assert func in _test_functions(path), f"{doc.name}: {file} has no {func}"
        if case:
            # Parametrize ids are spelled in the file (a vector id or a value).
            assert case in _source(path), f"{doc.name}: {file}::{func}[{case}]"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_ids())
def test_relative_links_resolve(doc: Path) -> None:
    for target in _MD_LINK.findall(doc.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        path = target.split("#", 1)[0].split("::", 1)[0]
        assert (doc.parent / path).exists(), f"{doc.name}: broken link {target}"


def _load_example(path: Path) -> JwtGateConfig:
    return load_config(path, env=EXAMPLE_ENV)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_configuration_loads_and_compiles(example: Path) -> None:
    config = _load_example(example)
    compiled = compile_gateway(config)
    check_workers(config)  # what `jwtgate serve` refuses before binding
    assert compiled.routes
    assert compiled.issuers
    for route, settings in zip(compiled.routes, config.gateway.routes, strict=True):
        # An in-process auth server sets the access cookie; a route reading
        # cookies must read that very name, whatever the listeners are.
        explicit = "routes" in config.gateway.model_fields_set
        if explicit and route.cookie is not None and "auth" in compiled.internal_names:
            assert route.cookie == cookie_names(config.auth.cookies.secure).access, settings.name


def test_production_example_uses_the_production_engines() -> None:
    config = _load_example(ROOT / "docs" / "examples" / "production.yaml")
    assert config.revocation.backend == "redis"
    assert config.gateway.rate_limit_backend == "redis"
    assert config.gateway.workers > 1
    assert config.auth.database_url == EXAMPLE_ENV["JWTGATE_DATABASE_URL"]
    assert config.auth.cookies.secure
    assert all(li.tls is not None for li in config.gateway.listeners)
    admin = config.gateway.admin_listener
    assert admin is not None
    assert admin.host == "127.0.0.1"
    sources = {i.source for i in compile_gateway(config).issuers}
    assert sources == {"keyring", "jwks_url"}


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_routes_to_the_auth_server_pass_credentials(example: Path) -> None:
    """The auth server reads Bearer (logout, me) and Basic (client auth) itself."""
    config = _load_example(example)
    if "routes" not in config.gateway.model_fields_set:
        return  # embedded default routes, not the example's own
    for route in config.gateway.routes:
        if route.match.prefix == config.auth.mount_path:
            assert route.forward_token, route.name


def _is_excerpt(part: object, whole: object) -> bool:
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(
            k in whole and _is_excerpt(v, whole[k]) for k, v in part.items()
        )
    if isinstance(part, list) and part and isinstance(part[0], dict):
        return isinstance(whole, list) and all(any(_is_excerpt(p, w) for w in whole) for p in part)
    return part == whole


@pytest.mark.parametrize("doc", DOCS, ids=_doc_ids())
def test_yaml_fragments_are_excerpts_of_tested_examples(doc: Path) -> None:
    examples = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in EXAMPLES]
    for block in _YAML_FENCE.findall(doc.read_text(encoding="utf-8")):
        if "not a jwtgate file" in block.splitlines()[0]:
            continue
        fragment = yaml.safe_load(block)
        assert any(_is_excerpt(fragment, e) for e in examples), f"{doc.name}:\n{block}"


def _shell_commands(text: str) -> list[list[str]]:
    """``jwtgate`` invocations in shell blocks (after ``sudo -u USER`` and ``VAR=value``)."""
    commands = []
    for block in _FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            segment = line.strip().removeprefix("$ ").split("|")[0].split("&&")[0]
            words = shlex.split(segment, comments=True)
            if words[:1] == ["sudo"]:
                words = words[3:] if words[1:2] == ["-u"] else words[1:]
            while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
                words.pop(0)
            if words and Path(words[0]).name == "jwtgate":
                commands.append(words[1:])
    # Inline code in prose too, e.g. `jwtgate keys rotate --alg RS256`.
    for span in re.findall(r"`(jwtgate [^`]+)`", text):
        if "..." not in span and "|" not in span:
            commands.append(shlex.split(span)[1:])
    return commands


@pytest.mark.parametrize("doc", DOCS, ids=_doc_ids())
def test_documented_commands_parse(doc: Path) -> None:
    parser = build_parser()
    for argv in _shell_commands(doc.read_text(encoding="utf-8")):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                args = parser.parse_args(argv)
            except SystemExit as exc:
                if exc.code == 0 and "--help" in argv:
                    continue
                pytest.fail(f"{doc.name}: 'jwtgate {shlex.join(argv)}' does not parse: {exc}")
        assert getattr(args, "handler", None) is not None, f"{doc.name}: jwtgate {argv}"


def _error_classes() -> list[type[JwtGateError]]:
    # Every module that defines an error code; new ones fail the table check below.
    for path in sorted((ROOT / "src" / "jwtgate").rglob("*.py")):
        if re.search(r'^\s+code(: ClassVar\[str\])? = "', path.read_text("utf-8"), re.M):
            rel = path.relative_to(ROOT / "src").with_suffix("")
            importlib.import_module(".".join(rel.parts))
    found: list[type[JwtGateError]] = []
    todo: list[type[JwtGateError]] = [JwtGateError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("jwtgate."):
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_security_error_table_lists_every_error_class() -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    rows = {
        (m.group(1), m.group(2), int(m.group(3)))
        for m in re.finditer(r"^\| `([\w.]+)` \| `(\w+)` \| (\d{3}) \|", text, re.M)
    }
    classes = _error_classes()
    assert len(classes) > 60
    missing = [
        f"{c.__module__}.{c.__name__} {c.code} {c.status}"
        for c in classes
        if (f"{c.__module__}.{c.__name__}", c.code, c.status) not in rows
    ]
    assert not missing, missing
    assert len(rows) == len(classes), "the table lists a class that no longer exists"


def _cli(data_dir: Path, *args: str) -> None:
    argv = ["--data-dir", str(data_dir), *args]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli_main(argv) == 0, argv


@pytest.mark.parametrize("retire", [True, False], ids=["rotate-and-retire", "rotate-only"])
def test_leaked_key_runbook(tmp_path: Path, retire: bool) -> None:
    """docs/deployment.md: rotate + retire stops the old key at once; a rotation alone not."""
    ring = Keyring.open(tmp_path, algorithm="ES256", retain_seconds=930)
    old = ring.active.kid
    _cli(tmp_path, "keys", "rotate")
    if retire:
        _cli(tmp_path, "keys", "retire", f"--kid={old}")
    after = Keyring.open(tmp_path, algorithm="ES256", create=False)
    assert after.active.kid != old
    assert (after.get(old) is None) is retire
    assert (old not in {k["kid"] for k in after.jwks()["keys"]}) is retire
    assert (not (tmp_path / "keys" / f"{old}.pem").exists()) is retire
