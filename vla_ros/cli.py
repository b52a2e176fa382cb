"""``vla``: the project's one command-line entry point.

Subcommands import their heavy dependencies lazily so ``vla --help`` is instant.
Bad arguments end with a one-line ``vla: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from vla_policy.lerobot_policy import LEROBOT_PREFIX

from .bench import SECTIONS

DEMO_VIDEO = "outputs/demo.mp4"


# -- argument types (each raises ArgumentTypeError with a one-line reason) ---------
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer seed, got {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"seed must be in [0, 2^31), got {value}")
    return value


def fraction(text: str) -> float:
    """A share in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def margin_metres(text: str) -> float:
    """``--max-margin``: what ``EnvConfig.max_margin`` accepts."""
    from vla_sim.config import validate_max_margin

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected metres, got {text!r}") from None
    try:
        return validate_max_margin(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def distractor_range(text: str) -> tuple[int, int]:
    """``N`` or ``MIN-MAX`` non-target cups, 0..MAX_CUPS-1."""
    from vla_sim.config import MAX_CUPS

    parts = text.split("-")
    try:
        lo, hi = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None or hi is None:
        raise argparse.ArgumentTypeError(f"expected N or MIN-MAX, got {text!r}")
    if not 0 <= lo <= hi <= MAX_CUPS - 1:
        raise argparse.ArgumentTypeError(
            f"distractors must satisfy 0 <= MIN <= MAX <= {MAX_CUPS - 1} (one cup per colour), got {text!r}"
        )
    return lo, hi


def target_colour(text: str) -> str:
    from vla_sim.config import validate_colour

    if text.strip().lower() == "random":
        return "random"
    try:
        return validate_colour(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or 'random')") from None


def refer_kinds(text: str) -> tuple[str, ...]:
    """Comma-separated reference kinds, or 'relational' (every kind but colour)."""
    from vla_sim.referring import KINDS, validate_kind

    if text.strip() == "relational":
        return tuple(k for k in KINDS if k != "colour")
    try:
        return tuple(validate_kind(k) for k in text.split(",") if k.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def refer_kind(text: str) -> str:
    from vla_sim.referring import validate_kind

    try:
        return validate_kind(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def modality_fault(text: str) -> str:
    from vla_sim.modality_faults import ModalityFault

    try:
        return ModalityFault(text).kind
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def perturbation_axes(text: str) -> tuple[str, ...]:
    from vla_sim.perturbations import parse_axes

    try:
        return parse_axes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def instruction_text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("instruction must not be empty")
    return text.strip()


# -- policies --------------------------------------------------------------------
def policy_factory(spec: str, understanding: str = "default", calibrated: bool = False, regrasp: bool = True,
                   over_target: bool = True):
    """Map ``expert|default|PATH|lerobot:DIR`` to a picklable factory ``env -> agent`` (the decision core with
    that policy behind it; the expert too acts only on instructions the robot understood). ``calibrated``:
    a learned policy of this project sees frames reprojected into its training view (``--calibrated``).
    ``regrasp=False``: the core does not retry a missed grasp (``--no-regrasp``); ``over_target=False``: its
    retry rises straight up, not over the cup the policy located (``--regrasp-straight-up``)."""
    from vla_policy.agent import make_expert_agent, make_policy_agent

    understanding = understanding_path(understanding)
    if calibrated and (spec == "expert" or spec.startswith(LEROBOT_PREFIX)):
        raise SystemExit("vla: error: --calibrated reprojects the frames of this project's learned policies only")
    if not regrasp and spec == "expert":
        raise SystemExit("vla: error: --no-regrasp turns off the decision core's retry; the expert does not act through it")
    if not over_target and (not regrasp or spec == "expert"):
        raise SystemExit("vla: error: --regrasp-straight-up changes the decision core's retry: not with --no-regrasp "
                         "or the expert")
    decision = ({} if regrasp else {"missed_grasp_width": 0.0}) | ({} if over_target else {"regrasp_over_target": False})
    if spec == "expert":
        return functools.partial(make_expert_agent, understanding=understanding)
    if spec.startswith(LEROBOT_PREFIX):  # a LeRobot policy served from its own Python (vla_policy/lerobot_policy.py)
        from vla_policy.lerobot_policy import make_lerobot_agent

        checkpoint = lerobot_spec(spec, "--policy")[len(LEROBOT_PREFIX):]
        return functools.partial(make_lerobot_agent, checkpoint=checkpoint, understanding=understanding,
                                 decision=decision)
    return functools.partial(make_policy_agent, checkpoint=checkpoint_path(spec), understanding=understanding,
                             calibrated=calibrated, decision=decision)


def lerobot_spec(spec: str, flag: str) -> str:
    """``lerobot:DIR`` -> ``lerobot:FOLDER`` of a LeRobot policy that LeRobot's Python is there to serve
    (checked once, here)."""
    from vla_policy.lerobot_interop import LeRobotUnavailable, lerobot_python
    from vla_policy.lerobot_policy import LeRobotPolicyError, lerobot_checkpoint

    try:
        folder = lerobot_checkpoint(spec)
        lerobot_python()
        return f"{LEROBOT_PREFIX}{folder}"
    except (LeRobotUnavailable, LeRobotPolicyError) as exc:
        raise SystemExit(f"vla: error: {flag} {spec}: {exc}") from None


def understanding_path(spec: str) -> str:
    """``default`` or a folder with a trained understanding model (checked here, once)."""
    from vla_policy.modeling_vla import CheckpointError
    from vla_policy.understanding import DEFAULT_UNDERSTANDING, Understanding

    path = DEFAULT_UNDERSTANDING if spec == "default" else Path(spec)
    try:
        Understanding.from_pretrained(path, text_encoder=None)
    except CheckpointError as exc:
        raise SystemExit(f"vla: error: --understanding: {exc}") from None
    return str(path)


def checkpoint_path(spec: str) -> str:
    """``default`` or a folder -> a checkpoint folder that loads (checked once, here, not in every worker)."""
    if spec == "default":
        from vla_policy import DEFAULT_CHECKPOINT

        if not (DEFAULT_CHECKPOINT / "model.safetensors").is_file():
            raise SystemExit(f"vla: error: --policy default: no shipped checkpoint at {DEFAULT_CHECKPOINT}; "
                             "train one with `make policy` and pass its folder, or use --policy expert")
        spec = str(DEFAULT_CHECKPOINT)
    path = Path(spec)
    if not path.is_dir():
        raise SystemExit(f"vla: error: --policy {spec!r}: not 'expert', 'default' or an existing checkpoint folder")
    from vla_policy.modeling_vla import CheckpointError, VLAPolicy

    try:
        VLAPolicy.from_pretrained(path)  # the text encoder loads lazily, not here
    except CheckpointError as exc:
        raise SystemExit(f"vla: error: --policy: {exc}") from None
    return str(path)


def _env_config(args: argparse.Namespace):
    from vla_sim.config import EnvConfig

    lo, hi = args.distractors
    extra = 0 if args.absent else 1  # the target cup itself
    try:
        return EnvConfig(
            num_cups=(lo + extra, hi + extra),
            target=args.target,
            target_absent=args.absent,
            refer=args.refer,
            anchor=args.anchor,
            max_margin=args.max_margin,
            render_images=args.policy != "expert",
            gui=args.gui,
            perturb=getattr(args, "perturb", None) or (),
        )
    except ValueError as exc:
        raise SystemExit(f"vla: error: {exc}") from None


def _add_episode_args(parser: argparse.ArgumentParser, default_policy: str) -> None:
    parser.add_argument("--policy", default=default_policy,
                        help="'expert' (scripted, privileged), 'default' (shipped checkpoint), a checkpoint folder, or "
                             "lerobot:DIR (a LeRobot policy, served from make lerobot-env's Python)")
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of the first episode (episode i uses seed+i)")
    parser.add_argument("--distractors", type=distractor_range, default=(2, 4), metavar="MIN-MAX",
                        help="number of non-target cups, drawn uniformly per episode (default 2-4)")
    parser.add_argument("--target", type=target_colour, default="red",
                        help="target colour, or 'random' per episode (default red); used by the kinds that name "
                             "a colour (colour, left, right)")
    parser.add_argument("--refer", type=refer_kind, default="colour", metavar="KIND",
                        help="how the instruction picks the cup: colour (default), left, right (two cups of the "
                             "target colour), leftmost, rightmost, nearest, farthest (any colours), next-to "
                             "(the cup nearest an anchor cup of a unique colour)")
    parser.add_argument("--anchor", type=target_colour, default="random",
                        help="anchor colour of --refer next-to, or 'random' per episode (default)")
    parser.add_argument("--max-margin", type=margin_metres, default=0.0, metavar="M",
                        help="relational kinds: scenes whose referent wins by at most M metres (close calls, e.g. "
                             "a left/right pair nearly one behind the other); 0 (default): any margin from 0.05")
    parser.add_argument("--instruction", type=instruction_text, default=None,
                        help="instruction text (default: the kind's canonical one, e.g. 'pick up the red cup'); "
                             "'{colour}' and '{anchor}' in it are replaced by the episode's target and anchor colours")
    parser.add_argument("--absent", action="store_true",
                        help="scenes without a cup of the target colour: success = abstain, nothing lifted")
    parser.add_argument("--gui", action="store_true", help="show the PyBullet GUI (needs a display; one worker)")
    parser.add_argument("--understanding", default="default", metavar="DIR",
                        help="instruction-understanding model: 'default' (shipped) or a folder from `vla train-language`")


# -- subcommands -----------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    from vla_sim.evaluation import EpisodeSpec, evaluate, video_path

    factory = policy_factory(args.policy, args.understanding, calibrated=args.calibrated, regrasp=not args.no_regrasp,
                             over_target=not args.regrasp_straight_up)
    config = _env_config(args)
    if args.absent and args.refer != "colour":
        raise SystemExit("vla: error: --absent works with --refer colour only")
    if args.paraphrases and args.instruction:
        raise SystemExit(f"vla: error: use either --instruction or --paraphrases {args.paraphrases}, not both")
    expect = "refuse" if args.paraphrases == "unsupported" or args.expect == "refuse" else "act"
    if args.fault:
        if expect == "refuse":
            raise SystemExit("vla: error: --fault measures holding on a missing input; not with a refusal split")
        expect = "hold"
    episodes = [
        EpisodeSpec(
            seed=args.seed + i,
            target=args.target,
            instruction=paraphrase_of(args.paraphrases, args.seed + i, args.refer) if args.paraphrases
            else args.instruction,
            video_path=video_path(args.video, args.seed + i) if args.video else None,
            expect=expect,
            refer=args.refer,
            anchor=args.anchor,
            fault=args.fault,
        )
        for i in range(args.episodes)
    ]
    summary = evaluate(config, factory, episodes, workers=args.workers, progress=not args.quiet)
    lo, hi = summary["ci95"]
    print(
        f"policy={args.policy} episodes={summary['episodes']} success={summary['successes']}/{summary['episodes']} "
        f"({summary['success_rate']:.1%}, 95% CI {lo:.1%}-{hi:.1%}) outcomes={summary['outcomes']} "
        f"lifted={summary['lifted']} refused={summary['refused']}"
        + (f" regrasped={summary['regrasped']}" if "regrasped" in summary else "")
    )
    if "by_object_colour" in summary:
        same, other = (summary["by_object_colour"][k] for k in ("object_in_target_colour", "no_object_in_target_colour"))
        print(f"scenes with an object (not a cup) in the named cup's colour: {same['successes']}/{same['episodes']} "
              f"succeeded; without one: {other['successes']}/{other['episodes']}")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        summary["args"] = {k: v for k, v in vars(args).items() if k != "func"}
        out.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {out}")
    if args.video:
        print(f"videos in {args.video}/")
    return 0  # the rate is a measurement, not a verdict


def paraphrase_of(name: str, seed: int, refer: str = "colour") -> dict[str, str] | str:
    """One sentence of the set ``name`` per target colour, chosen by the episode seed; for a relational
    ``refer`` kind, a held-out template of that kind (``{colour}`` / ``{anchor}`` filled per episode)."""
    from vla_policy import language_corpus
    from vla_sim.config import COLOURS
    from vla_sim.instructions import HELD_OUT

    def pick(options: list[str]) -> str:
        return options[seed % len(options)]

    if refer != "colour":
        if name != "held-out":
            raise SystemExit(f"vla: error: --paraphrases {name} works with --refer colour; "
                             f"--refer {refer} takes --paraphrases held-out")
        return pick(language_corpus.referring_held_out(refer))

    sets = {"held-out": lambda c: pick(HELD_OUT).replace("{colour}", c),
            "shades": lambda c: pick(language_corpus.shade_instructions(c)),
            "korean": lambda c: pick(language_corpus.korean_instructions(c)),
            "unsupported": lambda c: pick(language_corpus.unsupported_instructions(c))}
    return {colour: sets[name](colour) for colour in COLOURS}


def cmd_demo(args: argparse.Namespace) -> int:
    from vla_sim.env import PickCupEnv
    from vla_sim.evaluation import EpisodeSpec, run_episode

    factory = policy_factory(args.policy, args.understanding)
    env = PickCupEnv(_env_config(args))
    try:
        result = run_episode(env, factory(env), EpisodeSpec(args.seed, args.target, args.instruction, args.out,
                                                                refer=args.refer, anchor=args.anchor))
    finally:
        env.close()
    label = result["understood"]
    understood = (f"understood: {label}{' cup' if result['refer'] == 'colour' else ''}" if label
                  else f"refused: {result['reason']}")
    print(
        f"seed {result['seed']}: \"{result['instruction']}\" ({understood}) -> {result['outcome']} "
        f"({'success' if result['success'] else 'failure'}) after {result['steps']} steps "
        f"({result['steps'] / 10:.1f} s sim)"
    )
    print(f"video: {args.out}")
    return 0


def cmd_data_generate(args: argparse.Namespace) -> int:
    from vla_policy.demonstrations import ABSENT_FRACTION, GenerationConfig, generate
    from vla_policy.phase_clock import describe

    policy = None
    if args.objects_in_target_colour and "distractor_objects" not in (args.perturb or ()):
        raise SystemExit("vla: error: --objects-in-target-colour needs --perturb with distractor_objects (or all)")
    if args.absent_fraction and "colour" not in args.refer:
        raise SystemExit("vla: error: --absent-fraction: scenes without the named cup exist for --refer colour "
                         "only (relational episodes always hold their referent)")
    # The absent draw comes before the kind's, so it also decides which relational episodes skip the noise
    # draw: the default keeps the data of earlier runs reproducible.
    absent = ABSENT_FRACTION if args.absent_fraction is None else args.absent_fraction
    config = GenerationConfig(distractors=args.distractors, max_steps=args.max_steps, refer=args.refer,
                              absent_fraction=absent, perturb=args.perturb or (),
                              objects_in_target_colour=args.objects_in_target_colour,
                              frame_stride=args.frame_stride)
    if args.policy:  # DAgger: the policy acts, the corrective expert labels; target always present, no noise
        if args.policy == "expert":
            raise SystemExit("vla: error: --policy: DAgger needs a learned checkpoint ('default' or a folder); "
                             "without --policy the expert acts")
        if args.absent_fraction:
            raise SystemExit("vla: error: --absent-fraction: DAgger episodes always hold the named cup "
                             "(an absent scene has nothing to correct)")
        if args.frame_stride != 1:
            raise SystemExit("vla: error: --frame-stride: the acting policy sees every frame (DAgger keeps them all)")
        policy = checkpoint_path(args.policy)
        config = dataclasses.replace(config, absent_fraction=0.0, noisy_fraction=0.0)
    summary = generate(args.out, args.episodes, seed=args.seed, workers=args.workers, config=config,
                       progress=not args.quiet, policy=policy)
    print(
        f"generated {summary['generated']} episodes ({summary['skipped_existing']} already there) "
        f"in {args.out}: {summary['frames']} frames, {summary['episodes_per_min']:.0f} episodes/min, "
        f"{summary['dataset_bytes'] / 1e6:.0f} MB on disk, failed episodes {summary['failed_episodes']}"
    )
    if summary["seconds_by_phase"]:
        print(f"generation time by phase (all workers): {describe(summary['seconds_by_phase'])}")
    return 0


def cmd_data_export(args: argparse.Namespace) -> int:
    from vla_policy.dataset import DatasetError
    from vla_policy.lerobot_interop import LeRobotUnavailable, export_lerobot

    try:
        summary = export_lerobot(args.data, args.out, repo_id=args.repo_id, video=not args.images,
                                 progress=not args.quiet)
    except (DatasetError, LeRobotUnavailable) as exc:
        raise SystemExit(f"vla: error: {exc}") from None
    print(f"exported {summary['episodes']} episodes ({summary['frames']} frames) as a LeRobotDataset v3 in {args.out}")
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    from vla_policy.dataset import DatasetError
    from vla_policy.lerobot_interop import LeRobotUnavailable, import_lerobot

    try:
        summary = import_lerobot(args.source, args.out, progress=not args.quiet)
    except (DatasetError, LeRobotUnavailable) as exc:
        raise SystemExit(f"vla: error: {exc}") from None
    skipped = ", ".join(f"{n} {why}" for why, n in summary["skipped"].items()) or "none"
    print(f"imported {summary['imported']} of {summary['episodes_read']} episodes into {args.out} "
          f"(project metadata: {'yes' if summary['project_metadata'] else 'no'}); skipped: {skipped}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from vla_policy.configuration_vla import VLAConfig
    from vla_policy.dataset import DatasetError
    from vla_policy.training import TrainConfig, load_run_config, train

    try:
        policy_cfg, train_cfg = load_run_config(args.config) if args.config else (VLAConfig(), TrainConfig())
    except ValueError as exc:
        raise SystemExit(f"vla: error: --config: {exc}") from None
    from vla_policy.modeling_vla import CheckpointError

    if args.steps:
        train_cfg.steps = args.steps
    if args.init:
        train_cfg.init_from = args.init
    try:
        summary = train(args.data, args.out, policy_cfg, train_cfg, resume=args.resume, progress=not args.quiet)
    except DatasetError as exc:
        raise SystemExit(f"vla: error: --data: {exc}") from None
    except CheckpointError as exc:
        raise SystemExit(f"vla: error: --init: {exc}") from None
    except ValueError as exc:  # a config that does not fit the data or the --init weights
        raise SystemExit(f"vla: error: {exc}") from None
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, only rank 0 reports
        print(f"trained {summary['steps']} steps in {summary['seconds'] / 60:.1f} min "
              f"({summary['samples_per_s']:.0f} samples/s); checkpoint: {args.out}")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from .fusion_study import StudyError, run

    try:
        return run(args)
    except StudyError as exc:
        raise SystemExit(f"vla: error: {exc}") from None


def cmd_understand(args: argparse.Namespace) -> int:
    from vla_policy.understanding import load_understanding

    understanding = load_understanding(understanding_path(args.understanding))
    understanding.warm_up()
    for text in args.text:
        verdict = understanding.understand(text)
        if args.json:
            print(json.dumps({"instruction": text, "target": verdict.target,
                              "refer": verdict.refer if verdict.understood else None,
                              "anchor": verdict.anchor, "refusal": verdict.refusal,
                              "kind": verdict.kind, "confidence": round(verdict.confidence, 4),
                              "language": verdict.language, "ms": round(understanding.last_ms, 2)},
                             ensure_ascii=False))
        else:
            print(f"{text!r} -> {verdict.summary()} [{verdict.kind}, {verdict.confidence:.2f}, "
                  f"{understanding.last_ms:.1f} ms]")
    return 0


def cmd_train_language(args: argparse.Namespace) -> int:
    from vla_policy.train_understanding import train_understanding

    metrics = train_understanding(args.out, n_english=args.english, n_korean=args.korean, epochs=args.epochs,
                                  seed=args.seed, progress=not args.quiet)
    for split in ("held_out_english", "held_out_korean"):
        m = metrics[split]
        print(f"{split}: picks understood {m['picks_understood']}/{m['picks']} ({m['pick_accuracy']:.1%}), "
              f"refusals refused {m['refusals_refused']}/{m['refusals']} ({m['refusal_rate']:.1%}), "
              f"wrong target {m.get('wrong_target', 0)}, false accepts {m.get('false_accepts', 0)}")
    for language, m in metrics["referring_held_out"].items():
        kinds = ", ".join(f"{k} {v['right']}/{v['total']}" for k, v in m["by_kind"].items())
        print(f"referring held-out ({language}): {m['right']}/{m['total']} ({m['accuracy']:.1%}), "
              f"wrong cup {m['wrong_cup']}; {kinds}")
    u = metrics["unsupported"]
    print(f"unsupported set: {u['acted_on']}/{u['sentences']} acted on")
    print(f"trained in {metrics['minutes']} min; model: {args.out}")
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    from .launcher import LaunchError, describe, launch

    try:
        if args.show:
            print(describe(args.name))
            return 0
        return launch(args.name, args.launch_args)
    except LaunchError as exc:
        raise SystemExit(f"vla: error: {exc}") from None


def cmd_instruct(args: argparse.Namespace) -> int:
    from .instruct import publish_instruction

    return publish_instruction(args.text, args.wait, args.topic, args.subscribers)


def cmd_average(args: argparse.Namespace) -> int:
    from vla_policy.checkpoint_files import CheckpointError
    from vla_policy.weight_average import average_checkpoints

    try:
        out = average_checkpoints(args.checkpoints, args.out)
    except CheckpointError as exc:
        raise SystemExit(f"vla: error: {exc}") from None
    print(f"averaged {len(args.checkpoints)} checkpoints into {out}")
    return 0


def bench_sections(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown section(s) {', '.join(unknown) or '(none)'}; choose from "
                                         f"{', '.join(SECTIONS)}")
    return names


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run

    if args.json:  # before minutes of measuring, not after
        try:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SystemExit(f"vla: error: --json {args.json}: cannot create its folder ({exc.strerror})") from None
    reference = args.reference
    if reference:
        reference = lerobot_spec(reference, "--reference") if reference.startswith(LEROBOT_PREFIX) \
            else checkpoint_path(reference)
    return run(args.json, args.quick, args.sections, checkpoint_path(args.policy), reference)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vla", description="Vision-language-action stack for ROS 2.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ev = sub.add_parser("eval", help="closed-loop success rate of a policy over seeded episodes")
    _add_episode_args(ev, default_policy="default")
    ev.add_argument("--episodes", type=positive_int, default=50, help="number of episodes (default 50)")
    ev.add_argument("--workers", type=positive_int, default=1, help="parallel worker processes (default 1)")
    ev.add_argument("--paraphrases", choices=["held-out", "shades", "korean", "unsupported"], default=None,
                    help="each episode gets a sentence of this set, never used in training: 'held-out' paraphrases "
                         "(split C), 'shades' (colour words and synonyms), 'korean', or 'unsupported' (all must be "
                         "refused: success = refused with nothing lifted)")
    ev.add_argument("--expect", choices=["act", "refuse"], default="act",
                    help="'refuse': --instruction must be refused (success = refused, nothing lifted)")
    ev.add_argument("--fault", type=modality_fault, default=None, metavar="KIND",
                    help="a missing modality on every step: blank-instruction, blank-camera, frozen-camera or "
                         "frozen-proprio (vla_sim.modality_faults); the robot must hold or refuse: success = "
                         "nothing lifted, knocked over or pushed off")
    ev.add_argument("--perturb", type=perturbation_axes, default=None, metavar="AXIS[,AXIS...]",
                    help="test-time perturbations the training scenes never have, drawn per episode from its "
                         "seed: lighting, table_texture, camera_pose, distractor_objects, image_noise, "
                         "cup_shape, or all (levels: vla_sim.perturbations)")
    ev.add_argument("--calibrated", action="store_true",
                    help="the policy is given each episode's camera calibration (intrinsics and pose, perturbed "
                         "or not) and sees every frame reprojected into its training camera's view "
                         "(vla_policy.training_view), as the policy node does with camera_calibration")
    ev.add_argument("--no-regrasp", action="store_true",
                    help="the decision core does not retry a missed grasp (a gripper closed on nothing): the "
                         "policy's own commands stand, as before the retry existed (for comparing)")
    ev.add_argument("--regrasp-straight-up", action="store_true",
                    help="the retry's rise goes straight up instead of over the cup the policy located before the "
                         "arm moved (DecisionConfig.regrasp_over_target off; for comparing: README, 'A grasp that "
                         "closes on nothing')")
    ev.add_argument("--video", metavar="DIR", default=None, help="write one MP4 per episode into DIR")
    ev.add_argument("--json", metavar="OUT", default=None, help="write the summary and per-episode results")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=cmd_eval)

    demo = sub.add_parser("demo", help="one closed-loop episode: print the outcome, write an MP4")
    _add_episode_args(demo, default_policy="default")
    demo.add_argument("--out", default=DEMO_VIDEO, help=f"MP4 path (default {DEMO_VIDEO})")
    demo.set_defaults(func=cmd_demo)

    data = sub.add_parser("data", help="demonstration datasets").add_subparsers(dest="data_command", required=True,
                                                                                metavar="ACTION")
    gen = data.add_parser("generate", help="scripted-expert demonstrations (resumable)")
    gen.add_argument("--episodes", type=positive_int, required=True, help="number of episodes")
    gen.add_argument("--seed", type=seed_int, default=1_000_000,
                     help="seed of episode 0 (default 1000000; evaluation seeds stay below it)")
    gen.add_argument("--distractors", type=distractor_range, default=(0, 5), metavar="MIN-MAX",
                     help="non-target cups per scene (default 0-5)")
    gen.add_argument("--workers", type=positive_int, default=1, help="parallel processes (default 1)")
    gen.add_argument("--out", required=True, help="dataset folder (created; finished episodes are kept)")
    gen.add_argument("--policy", default=None, metavar="CHECKPOINT",
                     help="DAgger: this policy acts and the corrective expert labels the states it visits")
    gen.add_argument("--max-steps", type=positive_int, default=None, help="cut episodes after this many steps")
    gen.add_argument("--refer", type=refer_kinds, default=("colour",), metavar="KIND[,KIND...]",
                     help="reference kinds, one drawn per episode: colour (default), left, right, leftmost, "
                          "rightmost, nearest, farthest, next-to, or 'relational' for all but colour")
    gen.add_argument("--absent-fraction", type=fraction, default=None, metavar="P",
                     help="share of colour scenes without the named cup, labelled 'abstain' "
                          "(default 0.12; 1 for a set of absent scenes only)")
    gen.add_argument("--perturb", type=perturbation_axes, default=None, metavar="AXIS[,AXIS...]",
                     help="vla eval's perturbations on every scene (lighting, table_texture, camera_pose, "
                          "distractor_objects, image_noise, cup_shape, or all): domain randomisation")
    gen.add_argument("--objects-in-target-colour", action="store_true",
                     help="with --perturb distractor_objects: the first object of every scene in the referred "
                          "cup's colour (objects the policy must tell from cups by shape)")
    gen.add_argument("--frame-stride", type=positive_int, default=1, metavar="K",
                     help="render and keep every K-th frame only (actions stay at every step; rendering is most "
                          "of the time: K = 2 gave x1.55 the episodes per minute; default 1)")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=cmd_data_generate)

    # Listed for --help only: main() hands these command lines to their own parsers (DELEGATED).
    data.add_parser("from-bag", help="convert recorded rosbag2 files into a training dataset", add_help=False)

    ex = data.add_parser("export", help="demonstrations as a LeRobotDataset v3 (LeRobot's own API; make lerobot-env)")
    ex.add_argument("--format", choices=["lerobot"], required=True, help="lerobot: a LeRobotDataset v3")
    ex.add_argument("--data", nargs="+", required=True, help="dataset folder(s) from `vla data generate` or `from-bag`")
    ex.add_argument("--out", required=True, help="new folder for the LeRobotDataset (never overwritten)")
    ex.add_argument("--repo-id", default="local/vla_demos", help="the dataset's repo id (default local/vla_demos)")
    ex.add_argument("--images", action="store_true", help="PNG frames instead of AV1 videos (lossless, larger)")
    ex.add_argument("--quiet", action="store_true", help="no progress")
    ex.set_defaults(func=cmd_data_export)
    im = data.add_parser("import", help="a LeRobotDataset with the project's features into the training format")
    im.add_argument("--format", choices=["lerobot"], required=True, help="lerobot: a LeRobotDataset v3")
    im.add_argument("source", help="the LeRobotDataset's root folder")
    im.add_argument("--out", required=True, help="new dataset folder for `vla train --data`")
    im.add_argument("--quiet", action="store_true", help="no progress")
    im.set_defaults(func=cmd_data_import)

    tr = sub.add_parser("train", help="train the cross-attention policy on demonstrations")
    tr.add_argument("--config", default=None, help="YAML with 'policy:' and 'train:' sections (default: built-ins)")
    tr.add_argument("--data", nargs="+", required=True, help="dataset folder(s) from `vla data generate`")
    tr.add_argument("--out", required=True, help="checkpoint folder (config.json + model.safetensors)")
    tr.add_argument("--steps", type=positive_int, default=None, help="override train.steps")
    tr.add_argument("--resume", action="store_true", help="continue from the state saved in --out")
    tr.add_argument("--init", default=None, metavar="CHECKPOINT",
                    help="start from these weights (fine-tuning); overrides train.init_from")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=cmd_train)

    avg = sub.add_parser("average", help="the mean of fine-tuned checkpoints' weights (one lineage, one config)")
    avg.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="checkpoint folders sharing one config.json")
    avg.add_argument("--out", required=True, help="folder for the averaged checkpoint")
    avg.set_defaults(func=cmd_average)

    be = sub.add_parser("bench", help="speed figures: policy latency, training, simulator, ROS loop (prints, never "
                                      "fails on a slow machine)")
    be.add_argument("--quick", action="store_true", help="fewer steps and one ROS episode (about a minute on 2 cores)")
    be.add_argument("--json", metavar="OUT", default=None, help="also write the figures and the machine to OUT")
    be.add_argument("--sections", type=bench_sections, default=SECTIONS,
                    metavar="NAME[,NAME...]", help="policy, training, simulator, ros (default: all)")
    be.add_argument("--policy", default="default", help="'default' or a checkpoint folder (default: default)")
    be.add_argument("--reference", default=None, metavar="POLICY",
                    help="a checkpoint folder or lerobot:DIR stepped on the same frames, in alternating order; the "
                         "policy section gives ours as a ratio to it")
    be.set_defaults(func=cmd_bench)

    st = sub.add_parser("study", help="the fusion study: each fusion variant trained and evaluated alike (resumable)")
    st.add_argument("--config", default="config/study.yaml", help="base run config, the shipped fusion "
                    "(default config/study.yaml)")
    st.add_argument("--data", nargs="+", default=["data/study_colour", "data/study_refer"],
                    help="dataset folders every variant trains on (default: make study's)")
    st.add_argument("--out", default="outputs/study", help="study folder; rerun to continue (default outputs/study)")
    st.add_argument("--steps", type=positive_int, default=None, help="override train.steps for every variant")
    st.add_argument("--episodes", type=positive_int, default=50, help="episodes per split and variant (default 50)")
    st.add_argument("--workers", type=positive_int, default=2, help="evaluation processes (default 2)")
    st.add_argument("--variants", help="comma-separated subset of film_xattn, xattn, film_late, late, early, "
                    "no_language, no_vision (default all)")
    st.add_argument("--splits", help="comma-separated subset of A, B, C, D, shades, leftmost, nearest (default all)")
    st.add_argument("--act", action="store_true", help="also LeRobot's ACT, trained by lerobot-train on as many "
                    "samples and evaluated through --policy lerobot:DIR (needs make lerobot-env)")
    st.add_argument("--chart", help="where the PNG chart goes (default OUT/study.png)")
    st.add_argument("--report-only", action="store_true",
                    help="train and evaluate nothing: the table, JSON and chart of what has finished")
    st.set_defaults(func=cmd_study)

    un = sub.add_parser("understand", help="what the robot understands from instructions (or why it refuses them)")
    un.add_argument("text", nargs="+", help='instructions, e.g. "grab the crimson mug"')
    un.add_argument("--understanding", default="default", metavar="DIR", help="'default' or a trained folder")
    un.add_argument("--json", action="store_true", help="one JSON object per instruction")
    un.set_defaults(func=cmd_understand)

    tl = sub.add_parser("train-language", help="train and calibrate the instruction-understanding model")
    tl.add_argument("--out", required=True, help="folder for config.json + model.safetensors")
    tl.add_argument("--english", type=positive_int, default=50000, help="English training sentences (default 50000)")
    tl.add_argument("--korean", type=positive_int, default=18000, help="Korean training sentences (default 18000)")
    tl.add_argument("--epochs", type=positive_int, default=6, help="epochs (default 6)")
    tl.add_argument("--seed", type=seed_int, default=0, help="seed (default 0)")
    tl.add_argument("--quiet", action="store_true", help="no progress bars")
    tl.set_defaults(func=cmd_train_language)

    la = sub.add_parser("launch", help="start a launch/*.launch.yaml graph as processes (no ros2 launch needed)")
    la.add_argument("name", help="sim_demo, policy, or a .launch.yaml path")
    la.add_argument("launch_args", nargs="*", metavar="NAME:=VALUE", help="launch arguments, as for ros2 launch")
    la.add_argument("--show", action="store_true", help="print the arguments and nodes, start nothing")
    la.set_defaults(func=cmd_launch)

    ins = sub.add_parser("instruct", help="publish an instruction on /instruction (ros2cli not needed)")
    ins.add_argument("text", type=instruction_text, help='e.g. "pick up the red cup"')
    ins.add_argument("--topic", default="/instruction", help="topic (default /instruction)")
    ins.add_argument("--wait", type=float, default=10.0,
                     help="seconds to wait for a subscriber before giving up (default 10)")
    ins.add_argument("--subscribers", type=positive_int, default=1,
                     help="wait for this many subscribers (the sim demo has 2: sim and policy; default 1)")
    ins.set_defaults(func=cmd_instruct)

    sub.add_parser("record", help="record camera, instruction, commands and joint states to an MCAP rosbag2",
                   add_help=False)
    return parser


# Subcommands with parsers of their own (`vla record` also takes --ros-args): the rest of the command
# line goes to them as it is. argparse cannot pass "--out ..." through a subcommand untouched.
DELEGATED = {("record",): ("vla_ros.recording", "record_main"),
             ("data", "from-bag"): ("vla_ros.bag_import", "from_bag_main")}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for prefix, (module, function) in DELEGATED.items():
        if tuple(argv[:len(prefix)]) == prefix:
            import importlib

            return getattr(importlib.import_module(module), function)(argv[len(prefix):])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("vla: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
