# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Compatibility namespaces: other libraries' APIs mapped onto lnn_control's models.

:mod:`lnn_control.compat.ncps` takes code written for ncps 1.0.1 after changing its imports.
"""
