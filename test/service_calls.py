# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Service calls for the ROS test harnesses that survive a lost response."""

import time


# Services whose request can be sent twice with the same effect as once.
IDEMPOTENT = ('get_parameters', 'set_parameters', 'set_parameters_atomically',
              'list_parameters', 'describe_parameters', 'get_parameter_types', 'get_state')


def call_service(clients, node, srv_type, name, request, wait, timeout=10.0, resend=3.0):
    """
    Call a service and return its response; idempotent requests are sent again until answered.

    A client whose response reader the server has not matched yet loses the response (the
    server drops it after a short wait: ros2/rmw_fastrtps#390, #467), and on a loaded machine
    discovery can lag a few seconds behind ``wait_for_service``. Requests that are safe to
    repeat (parameters, lifecycle state) are therefore sent again every ``resend`` seconds
    until ``timeout``; any other request is sent once and waited for. ``clients`` caches one
    client per service so that later calls reuse a matched client. ``wait(condition,
    seconds)`` spins the caller's executor until the condition holds or time runs out.

    """
    client = clients.get((srv_type, name))
    if client is None:
        client = clients[(srv_type, name)] = node.create_client(srv_type, name)
    end = time.monotonic() + timeout
    assert client.wait_for_service(timeout_sec=timeout), f'no service {name}'
    repeat = name.rsplit('/', 1)[-1] in IDEMPOTENT
    sent = 0
    while True:
        future = client.call_async(request)
        sent += 1
        left = end - time.monotonic()
        if wait(future.done, min(resend, left) if repeat else left):
            return future.result()
        client.remove_pending_request(future)
        if not repeat or time.monotonic() >= end:
            raise AssertionError(f'{name} did not answer ({sent} request(s) in {timeout} s)')
