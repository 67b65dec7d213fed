"""Where runs execute. One interface (`base.Runner`), two implementations: `LocalRunner` (a
process of the same CLI, the embedded default) and `KubernetesRunner` (a Job built from the
chart's template). Both run exactly the same `prodcat …` arguments.

Nothing heavy is imported here: the supervisor (`python -m prodcat_data.runners.supervise`) starts
with this package, and the kubernetes client loads only when that runner is chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prodcat_data.config import DataSettings
    from prodcat_data.runners.base import Runner


def make_runner(settings: DataSettings) -> Runner:
    """The runner the settings choose."""
    if settings.runner == "kubernetes":
        from prodcat_data.runners.kubernetes import KubernetesRunner

        return KubernetesRunner.from_settings(settings)
    from prodcat_data.runners.local import LocalRunner

    return LocalRunner.from_settings(settings)
