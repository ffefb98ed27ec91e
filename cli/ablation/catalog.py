"""The paper's ablations on the shapes world: for each, its rows, its claims and the paper's numbers.

Every trained row is the demo's dual model (`cli.demo_steps.DemoSettings`: T = 8 templates, K = 2
images per template, visual costs at all three stages, embedding average, frozen world CLIP) with
P = 4 prototypes, the demo's P when the tables were first measured (the demo moved to P = 2 on the
`prototypes` table; the rows keep 4 so that every table compares with the same base), and the
row's changes; rows that differ only in how they are evaluated share one
trained model, and rows of different ablations with the same training share it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptbank.errors import DpsegError


@dataclass(frozen=True)
class BankRecipe:
    """How a row's visual-prompt bank is made (the `shapes` vocabulary, world CLIP, 128 px)."""

    generator: str = "procedural"  # procedural | tiny-sd (random-init Stable Diffusion)
    noise: float = 0.0  # fraction of Gaussian noise mixed into every generated image (Table 5)
    templates: int = 8  # T, the first T ImageNet-80 templates (= the model's num_templates)

    @property
    def slug(self) -> str:
        noise = f"-noise{round(self.noise * 100)}" if self.noise else ""
        return f"{self.generator}-t{self.templates}{noise}"


@dataclass(frozen=True)
class Row:
    """One row of an ablation table: a trained model (or VIP) and how it is evaluated."""

    key: str  # results key, e.g. "dual"
    label: str  # table label, e.g. "dual (text + visual)"
    mode: str = "dual"  # dual | text: the demo's two training modes (text = SED-like baseline)
    train: tuple[str, ...] = ()  # more training settings, `section.key=value`
    prototypes: int = 4  # P, visual-cost prototype groups per class
    bank: BankRecipe = BankRecipe()
    inference: int = 1  # 1 | 2 (inference II)
    refine: str = "features"  # inference II region source: crops | region | features
    replaces: str = "all"  # inference II: which visual prompts the regions replace (all | pooled)
    vip: dict | None = None  # a training-free VIP row: VipSettings changes over the shapes preset
    vip_bank: bool = False  # VIP row seeded with the bank's visual prompts

    @property
    def trained(self) -> bool:
        return self.vip is None


@dataclass(frozen=True)
class Claim:
    """The paper says row `better` scores above row `worse` (mIoU over all 13 classes)."""

    text: str
    better: str
    worse: str


@dataclass(frozen=True)
class Ablation:
    name: str
    title: str
    rows: tuple[Row, ...]
    claims: tuple[Claim, ...]
    paper: str  # the paper's numbers (Markdown), from ../shared/research/paper_targets.md
    note: str = ""
    seeded: bool = True  # False: training-free rows, the same at every seed
    steps: int = 800  # default training steps per model: the longest that fits 40 minutes on
    # 2 cores (two models at a time, about 0.35 s a step each) for this ablation's models


BASE = Row("dual", "dual (text + visual), all three visual costs")
TEXT = Row("text", "text only (SED-like: upsampled text costs)", mode="text", prototypes=1)
VISUAL_COST = "model.overrides.visual_cost"
PAPER_LR = ("model.overrides.freeze_encoder=false", "optim.encoder_lr_mult=0.01")
P_TABLE = "| row | A-847 | PC-459 | A-150 | PC-59 | PAS-20 |\n|---|---|---|---|---|---|\n"

ABLATIONS: dict[str, Ablation] = {}


def _add(ablation: Ablation) -> None:
    ABLATIONS[ablation.name] = ablation


_add(
    Ablation(
        "prompts",
        "Table 2a: text, visual and dual prompts",
        rows=(
            TEXT,
            Row("visual", "visual only", train=('model.overrides.prompt_mode="visual"',)),
            BASE,
        ),
        claims=(
            Claim("visual prompts alone beat text prompts alone", "visual", "text"),
            Claim("dual prompts beat visual prompts alone", "dual", "visual"),
            Claim("dual prompts beat text prompts alone", "dual", "text"),
        ),
        paper=P_TABLE + "| text only | 10.4 | 17.4 | 30.6 | 56.2 | 93.4 |\n"
        "| visual only | 11.1 | 18.0 | 31.2 | 56.9 | 94.5 |\n"
        "| dual | 12.0 | 19.5 | 32.9 | 58.1 | 96.0 |",
        note="text only is the demo's baseline: text prompts and SED's upsampled text costs, "
        "no visual prompt anywhere; visual only keeps the visual cost volumes.",
    )
)
_add(
    Ablation(
        "fusion",
        "Table 2b: how text and visual prompts are fused",
        rows=(
            BASE,
            Row(
                "cost-average",
                "cost-volume average",
                train=('model.overrides.fusion="cost-average"',),
            ),  # fmt: skip
            Row("concat", "concatenated costs", train=('model.overrides.fusion="concat"',)),
        ),
        claims=(
            Claim("embedding average beats cost-volume average", "dual", "cost-average"),
            Claim("embedding average beats concatenation", "dual", "concat"),
            Claim("cost-volume average beats concatenation", "cost-average", "concat"),
        ),
        paper=P_TABLE + "| concatenated costs | 11.7 | 19.2 | 32.3 | 57.8 | 95.4 |\n"
        "| averaged costs | 11.9 | 19.4 | 32.7 | 58.0 | 95.7 |\n"
        "| embedding average (dual) | 12.0 | 19.5 | 32.9 | 58.1 | 96.0 |",
    )
)
_add(
    Ablation(
        "decoder-costs",
        "Table 3: visual cost volumes in the decoder",
        rows=(
            Row("none", "no side costs", train=(f'{VISUAL_COST}=["off", "off", "off"]',)),
            Row(
                "coarsest",
                "visual cost at the coarsest stage only",
                train=(f'{VISUAL_COST}=["visual", "off", "off"]',),
            ),  # fmt: skip
            Row("all", "visual costs at all three stages"),
            Row(
                "upsample",
                "upsampled text cost (SED's skip path)",
                train=(f'{VISUAL_COST}=["upsample", "upsample", "upsample"]',),
            ),  # fmt: skip
        ),
        claims=(
            Claim("a visual cost at the coarsest stage beats none", "coarsest", "none"),
            Claim("visual costs at all stages beat the coarsest only", "all", "coarsest"),
            Claim("visual costs beat SED's upsampled text costs", "all", "upsample"),
        ),
        paper=P_TABLE + "| no visual costs | 10.6 | 17.9 | 31.6 | 57.0 | 94.9 |\n"
        "| intermediate 1 | 11.4 | 18.8 | 32.1 | 57.6 | 95.5 |\n"
        "| intermediate 2 | 11.7 | 19.2 | 32.5 | 57.9 | 95.7 |\n"
        "| all scales | 12.0 | 19.5 | 32.9 | 58.1 | 96.0 |\n"
        "| upsampled instead | 11.4 | 19.0 | 32.4 | 58.0 | 95.6 |",
        note="all rows use dual prompts; only the side cost of the decoder stages changes.",
    )
)
_add(
    Ablation(
        "templates",
        "Table 4: number of templates T",
        rows=tuple(
            Row(f"t{t}", f"T = {t}", prototypes=t, bank=BankRecipe(templates=t))
            for t in (1, 2, 4, 8, 16)
        ),
        claims=(
            Claim("2 templates beat 1", "t2", "t1"),
            Claim("4 templates beat 2", "t4", "t2"),
            Claim("8 templates beat 4", "t8", "t4"),
            Claim("16 templates beat 8", "t16", "t8"),
        ),
        paper="| templates | 1 | 10 | 20 | 40 | 80 |\n|---|---|---|---|---|---|\n"
        "| A-150 mIoU | 15.6 | 20.3 | 27.9 | 29.6 | 32.9 |",
        note="one visual prototype per template (P = T); the bank holds the first T ImageNet "
        "templates, twice as many images per class at every doubling.",
    )
)
_add(
    Ablation(
        "prompt-quality",
        "Table 5: quality of the generated visual prompts",
        rows=(
            TEXT,
            BASE,
            *(
                Row(f"noise{p}", f"{p} % Gaussian noise", bank=BankRecipe(noise=p / 100))
                for p in (20, 60, 80)
            ),
            Row(
                "tiny-sd",
                "tiny Stable Diffusion (random init)",
                bank=BankRecipe(generator="tiny-sd"),
            ),  # fmt: skip
        ),
        claims=(
            Claim("clean prompts beat prompts with 20 % noise", "dual", "noise20"),
            Claim("20 % noise still beats text only", "noise20", "text"),
            Claim("60 % noise still beats text only", "noise60", "text"),
            Claim("80 % noise still beats text only", "noise80", "text"),
            Claim("the procedural generator beats a random diffusion model", "dual", "tiny-sd"),
        ),
        paper="| row (A-150) | mIoU |\n|---|---|\n| 20 % noise | 32.5 |\n| 60 % noise | 32.9 |\n"
        "| 80 % noise | 31.7 |\n| LayerDiffuse / SD-1.5 / SD-3 | 32.7 / 32.9 / 32.8 |\n"
        "| SED, text prompts only (Table 5's row 7) | 31.6 |",
        note="noise: every bank image mixed as (1 - f) x + f n, n ~ N(127.5, 64) grey levels "
        "(`promptbank.noisy`); the tiny Stable Diffusion has random weights, so its images carry "
        "no class at all: the floor of prompt quality. 500 steps per model by default: its 18 "
        "models take 26 minutes on 2 cores, at 800 steps about 41.",
        steps=500,
    )
)
_add(
    Ablation(
        "refinement",
        "Inference II: which regions refine the visual prompts",
        rows=(
            Row("inference1", "inference I"),
            Row(
                "crops",
                "inference II, masked crops through the frozen encoder (paper)",
                inference=2,
                refine="crops",
            ),  # fmt: skip
            Row(
                "region",
                "inference II, frozen-encoder features pooled per region",
                inference=2,
                refine="region",
            ),  # fmt: skip
            Row(
                "features",
                "inference II, pass-one features pooled per region",
                inference=2,
                refine="features",
            ),
            Row(
                "features-pooled",
                "inference II, pass-one features, dual-prompt cost volume only (dpseg)",
                inference=2,
                refine="features",
                replaces="pooled",
            ),  # fmt: skip
        ),
        claims=(
            Claim("inference II (paper's crops) beats inference I", "crops", "inference1"),
            Claim("region pooling is at least as good as crops", "region", "crops"),
            Claim("pass-one features are at least as good as crops", "features", "crops"),
            Claim(
                "refining only the dual prompt beats refining every visual prompt",
                "features-pooled",
                "features",
            ),
            Claim(
                "refining only the dual prompt beats inference I", "features-pooled", "inference1"
            ),
        ),
        paper="| model | A-847 | PC-459 | A-150 | PC-59 | PAS-20 |\n|---|---|---|---|---|---|\n"
        "| DPSeg-B, inference I | 12.0 | 19.5 | 32.9 | 58.1 | 96.0 |\n"
        "| DPSeg-B, inference II | 12.5 | 20.1 | 33.3 | 58.4 | 96.9 |",
        note="one trained model per seed, four ways of evaluating it.",
    )
)
_add(
    Ablation(
        "prototypes",
        "Visual-cost prototypes P (the paper keeps one channel per template, P = T)",
        rows=tuple(
            Row(f"p{p}", f"P = {p}" + (" (= T, the paper)" if p == 8 else ""), prototypes=p)
            for p in (8, 4, 2, 1)
        ),
        claims=(
            Claim("P = T (the paper) is at least as good as P = 4 (dpseg's demo)", "p8", "p4"),
            Claim("P = 4 beats P = 2", "p4", "p2"),
            Claim("P = 2 beats P = 1", "p2", "p1"),
        ),
        paper="The paper does not ablate P; its visual cost volume keeps one channel per template.",
        note="T = 8 templates; P groups of T / P templates are averaged before the cosine.",
    )
)
_add(
    Ablation(
        "encoder",
        "The image encoder during training: frozen (dpseg's shapes recipe) or the paper's lr x0.01",
        rows=(
            BASE,
            Row("lr0.01", "image encoder trained at lr x0.01 (the paper)", train=PAPER_LR),
            TEXT,
            Row(
                "text-lr0.01",
                "text only, image encoder trained at lr x0.01 (SED's recipe)",
                mode="text",
                prototypes=1,
                train=PAPER_LR,
            ),  # fmt: skip
        ),
        claims=(
            Claim("the paper's lr x0.01 is at least as good as a frozen encoder", "lr0.01", "dual"),
            Claim("dual beats text only with both encoders frozen", "dual", "text"),
            Claim("dual beats text only with both encoders at lr x0.01", "lr0.01", "text-lr0.01"),
        ),  # fmt: skip
        paper="The paper trains the CLIP image encoder at 0.01 of the decoder's lr (SED's recipe); "
        "it reports no frozen-encoder row.",
        note="the world CLIP in every row; the prompt encoder that made the bank stays frozen in "
        "all of them, so a trained image encoder drifts away from the bank's features.",
    )
)
_add(
    Ablation(
        "vip",
        "VIP, training-free: the released pipeline and dpseg's additions",
        rows=(
            Row(
                "released",
                "VIP's released pipeline (aliases, saliency LSE)",
                vip={"evolve_steps": 0},
            ),  # fmt: skip
            Row(
                "update", "+ dpseg's per-image prompt update (q + alpha v)", vip={"evolve_steps": 1}
            ),  # fmt: skip
            Row("bank", "+ update + bank seeding (dpseg)", vip={"evolve_steps": 1}, vip_bank=True),
            Row(
                "bank-only",
                "+ bank seeding, no update (dpseg)",
                vip={"evolve_steps": 0},
                vip_bank=True,
            ),  # fmt: skip
        ),
        claims=(
            Claim("dpseg's per-image update adds to VIP's pipeline", "update", "released"),
            Claim("bank seeding adds to the updated pipeline", "bank", "update"),
            Claim("bank seeding adds to VIP's pipeline", "bank-only", "released"),
        ),
        paper="VIP (dino.txt): VOC21 73.2, VOC20 92.5, COCO-Object 52.4, ADE 29.1; no ablation of "
        "dpseg's additions exists (they are dpseg's own).",
        note="no training, so one run stands for every seed (spread 0); the shapes preset reads "
        "128 px scenes upscaled to 384 in 128 px windows with the world CLIP as backbone.",
        seeded=False,
    )
)


def ablation(name: str) -> Ablation:
    """The ablation called `name` (one-line error listing the known ones otherwise)."""
    if name not in ABLATIONS:
        raise DpsegError(f"unknown ablation {name!r}; choose one of: {', '.join(ABLATIONS)}")
    return ABLATIONS[name]
