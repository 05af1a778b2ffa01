# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Per-frame latency of camera policies on one core: Image message -> command input (issue 8).

Times, batch 1, one 64 x 48 rgb8 frame per call: the message conversion
(``readings.image_to_reading`` + ``camera_observation``), the numpy runtime's encoder alone,
and the full ``Policy.step`` (encoder + head) for each head kind at the shipped sizes; beside
it the same torch model stepped with its state carried (what the node would cost with torch).
Then what domain randomisation adds per training frame (issue 19): one randomised camera look
(``perturb_frame``: exposure, white balance, gamma, blur, sensor noise, JPEG at quality 60).

    python bench/camera_latency.py [--rounds 15] [--steps 200]
"""

import argparse
import tempfile

import common
from lnn_control.envs.images import perturb_frame
from lnn_control.models.conv import build_conv_policy
from lnn_control.models.policy import save_policy
from lnn_control.ros import readings
from lnn_control.runtime import load_policy
from lnn_control.runtime.conv import camera_observation
import numpy as np
import torch

torch.set_num_threads(1)
IMAGE = (48, 64, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--steps', type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, IMAGE, dtype=np.uint8)
    msg = readings.image_msg(frame, readings.seconds_to_stamp(1.0))
    obs = frame.reshape(-1).astype(np.float32)
    cases = {'Image msg -> observation': lambda: camera_observation(
        readings.image_to_reading(msg, 48, 64)[0], IMAGE)}
    folder = tempfile.mkdtemp()
    for head in ('cfc', 'ltc', 'lstm', 'mlp'):
        torch.manual_seed(0)
        model = build_conv_policy(IMAGE, head).eval()
        policy = load_policy(save_policy(model, f'{folder}/{head}.safetensors'))
        if head == 'cfc':
            cases['numpy encoder only'] = lambda p=policy: p.cell.encode(obs)
        cases[f'numpy Policy.step, CNN+{head}'] = lambda p=policy: p.step(obs, 1 / 30)
        state = {'h': None}
        x = torch.from_numpy(obs)[None, None]

        def torch_step(m=model, s=state, x=x):
            with torch.no_grad():
                _, s['h'] = m(x, s['h'], 1 / 30)
        cases[f'torch step, CNN+{head}'] = torch_step
    look = {'gain': np.array([1.1, 1.0, 0.9], np.float32), 'brightness': 10.0, 'gamma': 0.9,
            'blur': 0.6, 'noise': 4.0, 'jpeg': 60.0}
    cases['randomised look (training side)'] = lambda: perturb_frame(frame, rng, **look)
    samples = common.interleaved_rounds(cases, args.rounds, args.steps)
    print(common.machine())
    print(f'median ms per frame over {args.rounds} rounds of {args.steps} calls '
          f'(64 x 48 rgb8, batch 1)')
    print(f'{"case":>30} {"ms":>8} {"frames/s":>9}')
    for name, values in samples.items():
        ms = 1e3 * common.median(values)
        print(f'{name:>30} {ms:8.3f} {1e3 / ms:9.0f}')


if __name__ == '__main__':
    main()
