"""The demo: echo upstream, browser console and the one-command ``jwtgate demo``."""

from __future__ import annotations

from jwtgate.demo.console import CONSOLE_CSP, ConsoleApp
from jwtgate.demo.echo import EchoUpstream, echo_app
from jwtgate.demo.run import run_demo
from jwtgate.demo.settings import (
    DEFAULT_DEMO_DIR,
    DEMO_AUDIENCE,
    DEMO_USERS,
    DemoUser,
    demo_config,
)

__all__ = [
    "CONSOLE_CSP",
    "DEFAULT_DEMO_DIR",
    "DEMO_AUDIENCE",
    "DEMO_USERS",
    "ConsoleApp",
    "DemoUser",
    "EchoUpstream",
    "demo_config",
    "echo_app",
    "run_demo",
]
