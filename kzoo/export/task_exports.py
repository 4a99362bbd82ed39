"""What each task exports: its signatures and a warmup request for each, through one registry.

A task kind is registered once with `@exports(TaskClass)`; `endpoints_of(task, ...)` finds the
entry of the task's class (or of the nearest base class that has one).
"""

from dataclasses import dataclass, field

from kzoo.export.signatures import (
    SERVING_METHODS,
    classifier_signatures,
    embedder_signatures,
    fill_mask_signatures,
    generator_signatures,
)
from kzoo.export.seq2seq_signatures import text_to_text_signatures
from kzoo.export.span_signatures import question_answering_signatures, token_classifier_signatures
from kzoo.models import Encoder
from kzoo.tasks import (
    CausalLM,
    Classifier,
    Embedder,
    MaskedLMPretrainer,
    Seq2SeqLM,
    SpanQA,
    TokenClassifier,
)
from kzoo.text.encoder_inputs import TextPairEncoder

GENERATE_WARMUP = {
    "prompt": ["kzoo warmup request"],
    "max_new_tokens": 4,
    "method": "greedy",
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "seed": 0,
}


@dataclass(frozen=True)
class ExportSettings:
    """How an export is made. `sequence_length`: tokens per input (for a generator, per prompt)."""

    sequence_length: int
    pair: bool = False
    jit_compile: bool = False
    end_token_id: int | None = None
    warmup_texts: tuple = ("kzoo warmup request",)


@dataclass
class Endpoints:
    """Signatures by name (tf.functions with input signatures) and a warmup request for each."""

    signatures: dict
    warmup: dict = field(default_factory=dict)

    def only(self, names) -> "Endpoints":
        """These endpoints restricted to the signatures `names`; refuses names the task lacks."""
        unknown = sorted(set(names) - set(self.signatures))
        if unknown or not names:
            raise ValueError(
                f"signatures {sorted(names)} are invalid: this task exports "
                f"{sorted(self.signatures)}; pick one or more of them."
            )
        return Endpoints(
            {n: f for n, f in self.signatures.items() if n in names},
            {n: r for n, r in self.warmup.items() if n in names},
        )


_EXPORTS = {}


def exports(task_class):
    """Registers `builder(task, tokenizer, settings) -> Endpoints` as how `task_class` exports."""

    def register(builder):
        _EXPORTS[task_class] = builder
        return builder

    return register


def endpoints_of(task, tokenizer, settings: ExportSettings) -> Endpoints:
    """The registered endpoints of `task`, whose class (or a base class) has an entry."""
    for cls in type(task).__mro__:
        if cls in _EXPORTS:
            return _EXPORTS[cls](task, tokenizer, settings)
    kinds = ", ".join(sorted(c.__name__ for c in _EXPORTS))
    raise ValueError(
        f"kzoo cannot export a {type(task).__name__}: exportable kinds are {kinds}. "
        "Export its backbone for embeddings."
    )


def generates(task) -> bool:
    """Whether `task` exports as a generator, whose sequence length is its prompts' budget."""
    return isinstance(task, CausalLM)


def _embed(encoder, tokenizer, settings):
    encode = TextPairEncoder(tokenizer, settings.sequence_length)
    return Endpoints(
        embedder_signatures(encoder, encode, settings.jit_compile),
        {"embed": {"text": list(settings.warmup_texts)}},
    )


def _with_embed(task, tokenizer, settings, main: Endpoints) -> Endpoints:
    embed = _embed(task.backbone, tokenizer, settings)
    return Endpoints({**main.signatures, **embed.signatures}, {**main.warmup, **embed.warmup})


@exports(Encoder)
def _encoder(encoder, tokenizer, settings):
    embed = _embed(encoder, tokenizer, settings)
    return Endpoints(
        {**embed.signatures, "serving_default": embed.signatures["embed"]},
        {**embed.warmup, "serving_default": embed.warmup["embed"]},
    )


@exports(Embedder)
def _embedder(task, tokenizer, settings):
    return _encoder(task.backbone, tokenizer, settings)


@exports(Classifier)
def _classifier(task, tokenizer, settings):
    encode = TextPairEncoder(tokenizer, settings.sequence_length)
    signatures = classifier_signatures(task, encode, settings.pair, settings.jit_compile)
    texts = list(settings.warmup_texts)
    request = {"text": texts, **({"text_pair": texts} if settings.pair else {})}
    warmup = {"serving_default": request}
    for name in set(SERVING_METHODS) & set(signatures):  # classify or regress, on tf.Examples
        warmup[name] = {"examples": [{key: values[0] for key, values in request.items()}]}
    return _with_embed(task, tokenizer, settings, Endpoints(signatures, warmup))


@exports(TokenClassifier)
def _token_classifier(task, tokenizer, settings):
    signatures = token_classifier_signatures(
        task, tokenizer, settings.sequence_length, settings.jit_compile
    )
    warmup = {"serving_default": {"text": ["Peter Blackburn visited Brussels ."]}}
    return _with_embed(task, tokenizer, settings, Endpoints(signatures, warmup))


@exports(SpanQA)
def _question_answering(task, tokenizer, settings):
    signatures = question_answering_signatures(
        task, tokenizer, settings.sequence_length, jit_compile=settings.jit_compile
    )
    warmup = {
        "serving_default": {"question": ["Where is kzoo?"], "context": ["kzoo is in the zoo ."]}
    }
    return _with_embed(task, tokenizer, settings, Endpoints(signatures, warmup))


@exports(MaskedLMPretrainer)
def _fill_mask(task, tokenizer, settings):
    encode = TextPairEncoder(tokenizer, settings.sequence_length)
    signatures = fill_mask_signatures(task, encode, jit_compile=settings.jit_compile)
    signatures["serving_default"] = signatures["fill_mask"]
    request = {"text": ["the [MASK] is blue"]}
    return _with_embed(
        task,
        tokenizer,
        settings,
        Endpoints(signatures, {"serving_default": request, "fill_mask": request}),
    )


def _end_token(task, settings):
    if settings.end_token_id is None:
        raise ValueError(
            f"exporting a {type(task).__name__} needs end_token_id (the token that ends "
            f"generation)."
        )
    return settings.end_token_id


@exports(CausalLM)
def _generator(task, tokenizer, settings):
    signatures = generator_signatures(
        task.backbone, tokenizer, _end_token(task, settings), settings.sequence_length
    )
    return Endpoints(signatures, {"serving_default": GENERATE_WARMUP})


@exports(Seq2SeqLM)
def _text_to_text(task, tokenizer, settings):
    signatures = text_to_text_signatures(
        task, tokenizer, _end_token(task, settings), settings.sequence_length
    )
    warmup = {k: v for k, v in GENERATE_WARMUP.items() if k != "prompt"}
    return Endpoints(signatures, {"serving_default": {"source": ["kzoo warmup"], **warmup}})
