# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
ncps 1.0.1 (Neural Circuit Policies, torch side) as a thin mapping onto lnn_control.

Code written for ncps runs after changing only its imports::

    from ncps.torch import CfC, LTC       ->  from lnn_control.compat.ncps.torch import CfC, LTC
    from ncps.wirings import AutoNCP      ->  from lnn_control.compat.ncps.wirings import AutoNCP
    import ncps                           ->  from lnn_control.compat import ncps

:mod:`.torch` holds ``CfC``, ``LTC``, ``CfCCell``, ``LTCCell`` and ``WiredCfCCell`` with
ncps's constructor arguments in ncps's positional order and ncps's call signatures; they are
lnn_control models (``save_policy`` deploys them to the numpy runtime). :mod:`.wirings` holds
the wirings with ncps's helper names. ncps's bugs are not copied: see each module. ncps itself
is never imported.
"""

from lnn_control.compat.ncps import wirings

__all__ = ['wirings']
