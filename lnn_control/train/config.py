# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Typed training configuration: one dataclass per concern, loaded from YAML in ``config/train/``.

A YAML file mirrors :class:`TrainConfig`; any key may be left out (its default is used)::

    name: pibot_nav_cfc
    method: imitation                 # a key of lnn_control.train.METHODS
    env: {id: lnn_control/PiBotNav-v0, kwargs: {timestep: 0.01}}
    model: {kind: cfc, kwargs: {units: {kind: auto_ncp, units: 19, output_size: 2}}}
    bc: {demo_episodes: 100, steps: 3000}
    dagger: {rounds: 8, episodes: 30}

    cfg = load_config('config/train/pibot_nav_cfc.yaml', overrides=['bc.lr=1e-3'])
    cfg.to_dict()      # the resolved config, JSON-able: stored in the policy's provenance

Loading refuses an unknown key (naming it, its section and the close matches) and a value of
the wrong type (naming the key, the expected type and the value); ``--set`` overrides use the
same checks, their values parsed as YAML (``bc.lr=1e-3``, ``dagger.rounds=2``,
``env.kwargs.drop=0.1``). Integers are accepted where a float is expected, nothing else is
converted.

Seeds: demonstrations use episode seeds ``seed_base + i``, DAgger round ``r`` continues after
them, validation uses ``eval.seed + i`` and the held-out test ``eval.test_seed + i``; the
ranges must not overlap (checked), so a test seed never appears in training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from dataclasses import field
import difflib
import math
from pathlib import Path
import typing
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

__all__ = ['ConfigError', 'EnvConfig', 'ModelConfig', 'ExpertConfig', 'BCConfig',
           'DAggerConfig', 'EvalConfig', 'TrainConfig', 'load_config', 'config_from_dict',
           'apply_overrides']

ACTION_NORMALISERS = ('range', 'moments', 'bounds', 'none')
SELECT = ('best', 'last')
# Image augmentations of bc.augment (lnn_control.train.imitation.AUGMENTATIONS).
AUGMENTATIONS = ('brightness', 'noise', 'colour', 'shift', 'cutout')


class ConfigError(ValueError):
    """A training config is malformed; the message names the key and what is wrong."""


@dataclass
class EnvConfig:
    """
    The environment trained and evaluated on.

    Attributes:
        id: Gymnasium id ('lnn_control/PiBotNav-v0', 'InvertedPendulum-v5', ...).
        kwargs: keyword arguments of the env (``gymnasium.make(id, **kwargs)``), e.g.
            ``timestep: 0.01`` for a faster PiBotNav.
        perturb: perturbation knobs of every env of the run, training and evaluation alike
            (``lnn_control.envs.perturb``: e.g. ``obs=positions,jitter=0.3``); '' for none.

    """

    id: str = 'lnn_control/PiBotNav-v0'  # noqa: A003  (the YAML key, as gymnasium's spec.id)
    kwargs: Dict[str, Any] = field(default_factory=dict)
    perturb: str = ''


@dataclass
class ModelConfig:
    """
    The policy network.

    Attributes:
        kind: model registry name: 'cfc', 'ltc', 'mlp', 'gru', 'lstm', or 'conv' (a CNN
            encoder and one of those as its head, for camera observations).
        kwargs: constructor arguments beside the sizes (``input_size`` is the observation
            size; ``output_size`` is the action size for models that take it). A wiring is
            given as its ``to_dict()``, e.g. ``{kind: auto_ncp, units: 19, output_size: 2}``.
            For 'conv': ``head`` (the head's kind), ``features``, ``units`` (NCP neurons),
            ``hidden`` (LSTM / MLP size), ``seed`` (wiring) and the encoder's ``channels``,
            ``kernels``, ``strides`` (``lnn_control.models.conv.build_conv_policy``); the
            image shape comes from the env.

    """

    kind: str = 'cfc'
    kwargs: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ExpertConfig:
    """
    The teacher (``lnn_control.envs.experts.make_expert``).

    Attributes:
        kind: '' for the expert registered for the env id; a registry name (e.g.
            ``pibot_nav_planner``); ``module:Class``; or ``file.py:Class``, a file relative
            to the config file's folder (an expert written next to the config). Training from
            demonstrations alone (``bc.dataset`` with ``dagger.rounds: 0``) needs none.
        kwargs: keyword arguments of the expert (e.g. ``lookahead`` of the nav planner).

    """

    kind: str = ''
    kwargs: Dict[str, Any] = field(default_factory=dict)


@dataclass
class BCConfig:
    """
    Demonstrations, normalisers and the optimiser (used by the BC fit and every DAgger refit).

    Attributes:
        demo_episodes: expert episodes recorded before training.
        seed_base: episode seed of the first demonstration.
        seq_len: steps per training chunk that carry loss.
        burn_in: steps before a chunk run to warm the hidden state, without loss (R2D2,
            Kapturowski et al. 2019); a chunk at an episode start needs none.
        batch_size: chunks per gradient step.
        lr: Adam learning rate at the start of each fit; it decays (cosine) to ``lr_final``.
        lr_final: learning rate at the end of each fit.
        weight_decay: AdamW weight decay.
        grad_clip: global gradient norm clip (0 for none).
        steps: gradient steps of the behaviour-cloning fit on the demonstrations.
        action_normaliser: how the model's output is scaled to actions: 'range' (data min/max
            to [-1, 1]: bounded outputs such as CfC motor neurons reach every expert action),
            'moments' (data mean/std), 'bounds' (the action space to [-1, 1]) or 'none'.
        obs_std_min: observation std below this is taken as 1 (a constant feature).
        action_noise: std of Gaussian noise added, per action element and in action units, to
            the expert's action whenever the expert drives (demonstrations, and its steps in
            DAgger rounds); the label stays the clean action. DART (Laskey et al., "DART:
            Noise injection for robust imitation learning", CoRL 2017): the data then shows
            recoveries, and the observed velocity stops predicting the next label, which
            otherwise teaches the learner to copy its own last command (de Haan et al.,
            "Causal confusion in imitation learning", NeurIPS 2019). Empty: no noise.
        dataset: recorded demonstrations to fit on instead of the expert's simulated ones:
            an ``.npz`` data set (``lnn-control dataset from-bag`` makes one of rosbag2
            recordings; :mod:`lnn_control.runtime.sequences`). '' for none; ``demo_episodes``,
            ``seed_base`` and ``action_noise`` then do not apply to round 0. Its Observer
            config must equal the env's. With ``dagger.rounds: 0`` no expert is needed at all.
        augment: image augmentations of every training chunk (camera observations), the same
            for every model, in the order given: ``brightness`` (a factor U(1 - b, 1 + b) per
            chunk), ``noise`` (std of Gaussian pixel noise, grey levels), ``colour`` (colour
            jitter per chunk: a gain per channel U(1 - c, 1 + c) and a grey offset
            U(-150 c, 150 c)), ``shift`` (a random crop: the chunk shifted up or down by up to
            this many px, edges replicated; not sideways, which is a heading error) and
            ``cutout`` (per frame a square of up to this fraction of the height, random place
            and grey); {} for none.
        feature_penalty: weight of a penalty on a camera encoder's saturated features, added
            to the imitation loss: ``feature_penalty x mean(relu(|a| - 2)^2)`` over the
            pre-tanh features ``a`` (:meth:`lnn_control.models.ConvPolicy.saturation`). Zero
            while every |a| <= 2, so it only acts on an encoder driven into saturation (a dead
            encoder: every feature +-1 on every frame); 0 for none. Camera models only.

    """

    demo_episodes: int = 100
    seed_base: int = 0
    seq_len: int = 64
    burn_in: int = 16
    batch_size: int = 64
    lr: float = 3e-3
    lr_final: float = 3e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    steps: int = 3000
    action_normaliser: str = 'range'
    obs_std_min: float = 1e-3
    action_noise: List[float] = field(default_factory=list)
    dataset: str = ''
    augment: Dict[str, float] = field(default_factory=dict)
    feature_penalty: float = 0.0


@dataclass
class DAggerConfig:
    """
    DAgger (Ross, Gordon & Bagnell, AISTATS 2011) after the BC fit.

    Round ``r`` (1-based) rolls out the learner, which hands control to the expert at each
    step with probability ``beta_r = beta0 * beta_decay ** (r - 1)``, labels every visited
    state with the expert, aggregates, and refits for ``steps`` gradient steps.

    Attributes:
        rounds: DAgger rounds (0: plain behaviour cloning).
        episodes: learner episodes per round.
        beta0: expert control probability in round 1.
        beta_decay: factor on beta per round.
        steps: gradient steps of each round's refit (warm-started).

    """

    rounds: int = 8
    episodes: int = 30
    beta0: float = 0.5
    beta_decay: float = 0.5
    steps: int = 1000


@dataclass
class EvalConfig:
    """
    Validation during training and the final held-out test.

    Attributes:
        episodes: validation episodes (seeds ``seed .. seed + episodes - 1``).
        seed: first validation seed.
        every: validate after every this many rounds (the BC fit is round 0); the last
            round is always validated.
        select: which model becomes the policy: 'best' validation score (the success rate,
            or the mean return for envs without success; ties go to the later round, trained
            on more of the learner's own states) or 'last'.
        test_episodes: held-out test episodes of the final policy and the expert, stored in the
            policy's provenance (0 to skip).
        test_seed: first held-out test seed.
        test_env_kwargs: env kwargs of the held-out test, replacing ``env.kwargs`` (None: the
            training env's); e.g. ``{}`` tests a policy trained with ``timestep: 0.01`` on
            the default physics, the env users run.

    """

    episodes: int = 30
    seed: int = 5000
    every: int = 1
    select: str = 'best'
    test_episodes: int = 100
    test_seed: int = 10000
    test_env_kwargs: Optional[Dict[str, Any]] = None


@dataclass
class PPOConfig:
    """
    Proximal policy optimisation for recurrent policies (``method: ppo``).

    The defaults are the ones bench/rl.py runs every actor with, chosen on HalfCheetah-v5 with
    a CfC-NCP actor (a handful of trials, BENCHMARKS.md): 16-step chunks, 8 minibatches, lr
    1e-3, initial log-std -1 (an std of 0.37 of the action range: less wasted control effort
    early than 1.0, the largest single gain measured).

    Attributes:
        total_steps: environment steps of the whole run (all envs together).
        envs: parallel envs (``gymnasium.vector``); vector: 'sync' (one process) or 'async'
            (a process per env).
        rollout_steps: steps per env per update (the rollout length).
        chunk_len: steps per training chunk: minibatches are whole chunks of consecutive
            steps, replayed with truncated BPTT from the state stored at the chunk's start; a
            chunk ends at an episode's end (the state restarts there).
        burn_in: steps before each chunk replayed without loss to refresh its start state
            with the current network (R2D2); never across an episode's start.
        epochs: passes over each rollout; minibatches: minibatches per pass.
        gamma, gae_lambda: discount and GAE(lambda) (Schulman et al. 2016).
        clip: the clipped objective's epsilon; clip_value: clip the value update to this
            (0: unclipped).
        vf_coef, ent_coef: value-loss and entropy-bonus weights.
        lr: Adam learning rate; anneal_lr: decay it linearly to 0 over the run.
        max_grad_norm: gradient norm clip, of the actor's and the critic's gradients each
            (0: none).
        norm_adv: normalise advantages per minibatch.
        norm_obs: a running mean/std of the observations (frozen into the policy file's
            normaliser at save); norm_reward: scale rewards by a running std of the return.
        log_std_init: the Gaussian head's initial log-std (state-independent, learned).
        critic: the value network, a model kind and its kwargs (``mlp``: a separate MLP on
            the observation; ``gru``/``lstm``/``cfc``: a recurrent critic with its own state).
        checkpoint_every: updates between checkpoints (``--resume`` continues from the last).
        rollout_workers: Ray actors that step the envs (each a vector env of its share of
            ``envs``, on any node of the cluster: :mod:`lnn_control.train.rollouts`); 0: the
            envs are stepped in this process. The same experience, so the same run, either way.

    """

    total_steps: int = 200_000
    envs: int = 4
    vector: str = 'sync'
    rollout_steps: int = 512
    chunk_len: int = 16
    burn_in: int = 0
    epochs: int = 10
    minibatches: int = 8
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    clip_value: float = 0.0
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    lr: float = 1e-3
    anneal_lr: bool = True
    max_grad_norm: float = 0.5
    norm_adv: bool = True
    norm_obs: bool = True
    norm_reward: bool = True
    log_std_init: float = -1.0
    critic: Dict[str, Any] = field(default_factory=lambda: {
        'kind': 'mlp', 'kwargs': {'hidden_sizes': [64, 64]}})
    checkpoint_every: int = 10
    rollout_workers: int = 0


@dataclass
class TrainConfig:
    """
    A whole training run (``lnn-control train CONFIG``).

    Attributes:
        name: policy name; the policy file is ``<out_dir>/<name>.safetensors``.
        method: the training method (a key of ``lnn_control.train.METHODS``: 'imitation',
            behaviour cloning + DAgger, ``lnn_control.train.imitation``; 'ppo',
            reinforcement learning, ``lnn_control.train.ppo``).
        env, model, expert, bc, dagger, ppo, eval: the sections above (a method reads its own
            and ignores the others').
        seed: seeds torch (initialisation, batches) and the DAgger control mixing.
        threads: torch intra-op threads (1: share the machine, and deterministic).
        out_dir: output folder ('' for ``runs/<name>``).

    """

    name: str = 'policy'
    method: str = 'imitation'
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    bc: BCConfig = field(default_factory=BCConfig)
    dagger: DAggerConfig = field(default_factory=DAggerConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)  # noqa: A003  (the YAML key)
    seed: int = 0
    threads: int = 1
    out_dir: str = ''

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check value ranges and that train, validation and test seeds do not overlap."""
        from lnn_control.train import METHODS
        checks = [
            ('name', bool(self.name) and '/' not in self.name, 'a non-empty file stem'),
            ('method', self.method in METHODS, f'one of {sorted(METHODS)}'),
            ('bc.augment', set(self.bc.augment) <= set(AUGMENTATIONS) and all(
                isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
                for v in self.bc.augment.values()),
             f'a mapping of {AUGMENTATIONS} to finite values >= 0'),
            ('threads', self.threads >= 1, '>= 1'),
            ('bc.feature_penalty', math.isfinite(self.bc.feature_penalty)
             and self.bc.feature_penalty >= 0, 'a finite number >= 0'),
            ('bc.feature_penalty', self.bc.feature_penalty == 0 or self.model.kind == 'conv',
             '0 unless model.kind is conv (it acts on a camera encoder)'),
            ('bc.demo_episodes', self.bc.demo_episodes >= 1, '>= 1'),
            ('bc.seq_len', self.bc.seq_len >= 1, '>= 1'),
            ('bc.burn_in', self.bc.burn_in >= 0, '>= 0'),
            ('bc.batch_size', self.bc.batch_size >= 1, '>= 1'),
            ('bc.lr', self.bc.lr > 0, '> 0'),
            ('bc.lr_final', 0 < self.bc.lr_final <= self.bc.lr, 'in (0, bc.lr]'),
            ('bc.weight_decay', self.bc.weight_decay >= 0, '>= 0'),
            ('bc.grad_clip', self.bc.grad_clip >= 0, '>= 0'),
            ('bc.steps', self.bc.steps >= 0, '>= 0'),
            ('bc.action_normaliser', self.bc.action_normaliser in ACTION_NORMALISERS,
             f'one of {ACTION_NORMALISERS}'),
            ('bc.obs_std_min', self.bc.obs_std_min > 0, '> 0'),
            ('bc.action_noise', all(math.isfinite(v) and v >= 0 for v in self.bc.action_noise),
             'a list of finite stds >= 0'),
            ('dagger.rounds', self.dagger.rounds >= 0, '>= 0'),
            ('dagger.episodes', self.dagger.episodes >= 1, '>= 1'),
            ('dagger.beta0', 0 <= self.dagger.beta0 <= 1, 'in [0, 1]'),
            ('dagger.beta_decay', 0 <= self.dagger.beta_decay <= 1, 'in [0, 1]'),
            ('dagger.steps', self.dagger.steps >= 0, '>= 0'),
            ('eval.episodes', self.eval.episodes >= 0, '>= 0'),
            ('eval.every', self.eval.every >= 1, '>= 1'),
            ('eval.select', self.eval.select in SELECT, f'one of {SELECT}'),
            ('eval.test_episodes', self.eval.test_episodes >= 0, '>= 0'),
            ('ppo.total_steps', self.ppo.total_steps >= 1, '>= 1'),
            ('ppo.envs', self.ppo.envs >= 1, '>= 1'),
            ('ppo.vector', self.ppo.vector in ('sync', 'async'), "'sync' or 'async'"),
            ('ppo.rollout_steps', self.ppo.rollout_steps >= 1, '>= 1'),
            ('ppo.chunk_len', 1 <= self.ppo.chunk_len <= self.ppo.rollout_steps,
             'in [1, ppo.rollout_steps]'),
            ('ppo.burn_in', self.ppo.burn_in >= 0, '>= 0'),
            ('ppo.epochs', self.ppo.epochs >= 1, '>= 1'),
            ('ppo.minibatches', self.ppo.minibatches >= 1, '>= 1'),
            ('ppo.gamma', 0 < self.ppo.gamma <= 1, 'in (0, 1]'),
            ('ppo.gae_lambda', 0 <= self.ppo.gae_lambda <= 1, 'in [0, 1]'),
            ('ppo.clip', self.ppo.clip > 0, '> 0'),
            ('ppo.clip_value', self.ppo.clip_value >= 0, '>= 0'),
            ('ppo.vf_coef', self.ppo.vf_coef >= 0, '>= 0'),
            ('ppo.ent_coef', self.ppo.ent_coef >= 0, '>= 0'),
            ('ppo.lr', self.ppo.lr > 0, '> 0'),
            ('ppo.max_grad_norm', self.ppo.max_grad_norm >= 0, '>= 0'),
            ('ppo.critic', isinstance(self.ppo.critic.get('kind'), str) and set(
                self.ppo.critic) <= {'kind', 'kwargs'}, 'a mapping {kind, kwargs}'),
            ('ppo.checkpoint_every', self.ppo.checkpoint_every >= 1, '>= 1'),
            ('ppo.rollout_workers', 0 <= self.ppo.rollout_workers <= self.ppo.envs,
             'in [0, ppo.envs]'),
        ]
        for key, ok, what in checks:
            if not ok:
                raise ConfigError(f'{key} must be {what}, got {_get(self, key)!r}')
        for key in ('bc.lr', 'bc.lr_final', 'bc.weight_decay', 'bc.grad_clip',
                    'dagger.beta0', 'dagger.beta_decay', 'ppo.gamma', 'ppo.gae_lambda',
                    'ppo.clip', 'ppo.clip_value', 'ppo.vf_coef', 'ppo.ent_coef', 'ppo.lr',
                    'ppo.max_grad_norm', 'ppo.log_std_init'):
            if not math.isfinite(_get(self, key)):
                raise ConfigError(f'{key} must be finite, got {_get(self, key)!r}')
        train = (self.bc.seed_base, self.bc.seed_base + self.bc.demo_episodes
                 + self.dagger.rounds * self.dagger.episodes)
        ranges = {'training': train,
                  'validation': (self.eval.seed, self.eval.seed + self.eval.episodes),
                  'test': (self.eval.test_seed, self.eval.test_seed + self.eval.test_episodes)}
        names = sorted(ranges)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                (a0, a1), (b0, b1) = ranges[a], ranges[b]
                if a0 < a1 and b0 < b1 and a0 < b1 and b0 < a1:
                    raise ConfigError(f'{a} seeds [{a0}, {a1}) overlap {b} seeds [{b0}, {b1}); '
                                      f'move bc.seed_base, eval.seed or eval.test_seed')

    @property
    def train_seeds(self) -> range:
        """Episode seeds of the demonstrations and all DAgger rounds, in order."""
        return range(self.bc.seed_base, self.bc.seed_base + self.bc.demo_episodes
                     + self.dagger.rounds * self.dagger.episodes)

    def round_seeds(self, round_index: int) -> range:
        """Episode seeds of round ``round_index`` (0: the demonstrations)."""
        if round_index == 0:
            return range(self.bc.seed_base, self.bc.seed_base + self.bc.demo_episodes)
        start = (self.bc.seed_base + self.bc.demo_episodes
                 + (round_index - 1) * self.dagger.episodes)
        return range(start, start + self.dagger.episodes)

    def beta(self, round_index: int) -> float:
        """Expert control probability of DAgger round ``round_index`` (1-based; 0 is BC)."""
        if round_index == 0:
            return 1.0
        return self.dagger.beta0 * self.dagger.beta_decay ** (round_index - 1)

    def resolved_out_dir(self) -> Path:
        """Return the output folder: ``out_dir``, or ``runs/<name>`` when it is empty."""
        return Path(self.out_dir or f'runs/{self.name}')

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able nested dict of every field (what the policy file's provenance stores)."""
        return dataclasses.asdict(self)


# -- loading -----------------------------------------------------------------------------------
def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split('.'):
        obj = getattr(obj, part)
    return obj


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return 'null'
    origin = typing.get_origin(tp)
    if origin is Union:
        return ' or '.join(_type_name(a) for a in typing.get_args(tp))
    if origin in (dict, Dict):
        return 'mapping'
    if origin in (list, List):
        return 'list'
    return getattr(tp, '__name__', str(tp))


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; build nested dataclasses."""
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f'{key}: expected a mapping (section {tp.__name__}), got '
                              f'{type(value).__name__} {value!r:.80}')
        return _build(tp, value, key)
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Union:
        for arg in typing.get_args(tp):
            try:
                return _convert(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f'{key}: expected {_type_name(tp)}, got {type(value).__name__} '
                          f'{value!r:.80}')
    if tp is type(None):
        if value is None:
            return None
    elif origin in (dict, Dict):
        if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            return dict(value)
    elif origin in (list, List):
        if isinstance(value, (list, tuple)):
            (item,) = typing.get_args(tp) or (Any,)
            return [_convert(v, item, f'{key}[{i}]') for i, v in enumerate(value)]
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is bool or tp is str:
        if isinstance(value, tp):
            return value
    else:
        raise ConfigError(f'{key}: unsupported annotation {tp!r}')
    raise ConfigError(f'{key}: expected {_type_name(tp)}, got {type(value).__name__} '
                      f'{value!r:.80}')


def _build(cls: Any, data: Mapping[str, Any], prefix: str = '') -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f'{prefix}.{key}' if prefix else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=3)
            hint = f'; did you mean {" or ".join(close)}?' if close else ''
            where = f'section {prefix!r}' if prefix else 'the top level'
            raise ConfigError(f'unknown key {dotted!r} in {where} (known: {", ".join(names)})'
                              f'{hint}')
        kwargs[key] = _convert(value, hints[key], dotted)
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Build a checked :class:`TrainConfig` from a nested dict (``to_dict`` output or YAML)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f'a training config is a mapping, got {type(data).__name__}')
    return _build(TrainConfig, data)


def _yaml_load(text: str) -> Any:
    """Parse YAML, reading ``1e-3`` as a float (YAML 1.2; PyYAML's 1.1 rules need ``1.0e-3``)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {k: list(v) for k, v in
                                      yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver(
        'tag:yaml.org,2002:float',
        re.compile(r'^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$'),
        list('-+0123456789'))
    return yaml.load(text, Loader=Loader)


def apply_overrides(data: Dict[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """
    Apply ``key.sub=value`` overrides (values parsed as YAML) to a nested dict, in place.

    Missing intermediate mappings are created, so ``env.kwargs.drop=0.1`` works on a config
    without ``env.kwargs``; unknown keys are reported when the result is built.
    """
    import yaml

    for item in overrides:
        key, sep, text = item.partition('=')
        if not sep or not key.strip():
            raise ConfigError(f'an override is key=value (e.g. bc.lr=1e-3), got {item!r}')
        try:
            value = _yaml_load(text) if text.strip() else ''
        except yaml.YAMLError as exc:
            raise ConfigError(f'override {item!r}: the value is not YAML: {exc}') from None
        parts = key.strip().split('.')
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f'override {item!r}: {".".join(parts[:i + 1])} is not a '
                                  f'section')
            node = child
        node[parts[-1]] = value
    return data


def load_config(path: Union[str, Path], overrides: Optional[Iterable[str]] = None
                ) -> TrainConfig:
    """Load a YAML training config, apply ``key=value`` overrides and check it."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f'{path}: no such training config') from None
    try:
        data = _yaml_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path}: not valid YAML: {exc}') from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: a training config is a mapping, got {type(data).__name__}')
    apply_overrides(data, overrides or [])
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f'{path}: {exc}') from None
