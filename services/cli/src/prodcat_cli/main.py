"""Entrypoint of `prodcat`: builds the command tree from the installed stages and is the one
boundary where errors become a one-line message and an exit code (0 done, 2 bad input, 1 other)."""

from __future__ import annotations

import logging
import sys
from importlib.metadata import entry_points
from typing import Annotated

import click
import typer

from prodcat_cli.config import CliSettings
from prodcat_core.cpus import declare_cpus
from prodcat_core.errors import ProdcatError
from prodcat_core.logging import LogFormat, configure_logging

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "prodcat.commands"


def build_app() -> typer.Typer:
    """The root command with every installed stage registered on it."""
    app = typer.Typer(
        name="prodcat",
        help="Classify French e-commerce listings into product types: import data, train, "
        "evaluate, serve. Each subcommand is one stage; the same command runs locally and as "
        "its container's command in Kubernetes.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
    )

    @app.callback()
    def _root(
        log_level: Annotated[
            str | None, typer.Option(help="Log level (env PRODCAT_LOG_LEVEL).", show_default=False)
        ] = None,
        log_format: Annotated[
            str | None,
            typer.Option(
                help="Log format: text or json (env PRODCAT_LOG_FORMAT).", show_default=False
            ),
        ] = None,
    ) -> None:
        settings = CliSettings()
        fmt = log_format or settings.log_format
        if fmt not in ("text", "json"):
            raise typer.BadParameter("must be text or json", param_hint="--log-format")
        chosen: LogFormat = "json" if fmt == "json" else "text"
        configure_logging(log_level or settings.log_level, chosen)
        declare_cpus(settings.cpus)

    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        register = ep.load()
        register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the exit code (so tests can call it in-process)."""
    app = build_app()
    try:
        code = app(args=argv, prog_name="prodcat", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except (click.exceptions.Abort, typer.Abort):
        print("aborted", file=sys.stderr)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except typer.TyperException as e:  # typer vendors click: its usage errors are not click's
        show = getattr(e, "show", None)
        if callable(show):
            show()
        else:
            print(f"Error: {e.format_message()}", file=sys.stderr)
        return e.exit_code
    except ProdcatError as e:
        logger.error("%s", e.message, extra={"error": type(e).__name__})
        print(f"error: {e.message}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # the stage's boundary: anything unexpected is logged with its traceback
        logger.exception("stage failed")
        print(f"error: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    # Without standalone mode, typer returns the code of a `typer.Exit(code)` (130 on Ctrl-C).
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())
