"""Knowledge distillation: a smaller student task trained by `fit` to match a frozen teacher.

Example:
    >>> distiller = Distiller(teacher=fine_tuned, student=Classifier(build_encoder("bert_mini")))
    >>> distiller.compile(optimizer=make_optimizer(1e-4))
    >>> distiller.fit(batches, epochs=3)          # (inputs, labels) or inputs alone
    >>> distiller.student.save("student.keras")   # a plain kzoo task
"""

import keras
from keras import ops


def soft_target_loss(teacher_logits, student_logits, temperature):
    """T² · KL(softmax(teacher / T) ‖ softmax(student / T)) per row (Hinton et al., 2015); the
    T² keeps its gradients on the scale of the label loss. One-output heads (regression) match
    the teacher's value by squared error instead."""
    if teacher_logits.shape[-1] == 1:
        return ops.squeeze(ops.square(student_logits - teacher_logits), -1)
    teacher_log_p = ops.log_softmax(teacher_logits / temperature, axis=-1)
    student_log_p = ops.log_softmax(student_logits / temperature, axis=-1)
    kl = ops.sum(ops.exp(teacher_log_p) * (teacher_log_p - student_log_p), axis=-1)
    return temperature**2 * kl


class Distiller(keras.Model):
    """`student(inputs)` trained on `alpha` · the soft-target loss against the frozen `teacher`
    plus (1 − `alpha`) · the student's own label loss (when batches carry labels), plus
    optionally `hidden_weight` · the MSE between the student's last hidden states, projected to
    the teacher's width, and the teacher's.

    Student and teacher are kzoo tasks of the same kind on the same tokenizer: classifiers
    (sequence logits) or causal LMs (per-token logits, padding weighted out through the batches'
    sample weights). The hidden-state term costs one more pass of each backbone; it is off by
    default.
    """

    def __init__(self, teacher, student, temperature=2.0, alpha=0.5, hidden_weight=0.0, **kwargs):
        super().__init__(**kwargs)
        if temperature <= 0 or not 0.0 <= alpha <= 1.0 or hidden_weight < 0:
            raise ValueError(
                f"temperature={temperature}, alpha={alpha}, hidden_weight={hidden_weight} are "
                f"invalid: expected temperature > 0, alpha in [0, 1] and hidden_weight >= 0."
            )
        if teacher.output_shape[-1] != student.output_shape[-1]:
            raise ValueError(
                f"the teacher has {teacher.output_shape[-1]} outputs and the student "
                f"{student.output_shape[-1]}: build the student with the teacher's classes or "
                f"vocabulary."
            )
        self.teacher, self.student = teacher, student
        self.teacher.trainable = False
        self.temperature, self.alpha, self.hidden_weight = temperature, alpha, hidden_weight
        self.label_loss = student.default_loss()
        self.projection = (
            keras.layers.Dense(teacher.backbone.config.hidden_size, name="hidden_projection")
            if hidden_weight
            else None
        )

    @property
    def backbone(self):
        """The backbone being trained (the student's), as a task's: so `MagnitudePruning` and
        other backbone-reading callbacks work on a distillation run too."""
        return self.student.backbone

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        teacher_logits = ops.stop_gradient(self.teacher(x, training=False))
        per_row = soft_target_loss(teacher_logits, y_pred, self.temperature)
        loss = self.alpha * _weighted_mean(per_row, sample_weight)
        if y is not None and self.alpha < 1.0:
            loss += (1.0 - self.alpha) * self.label_loss(y, y_pred, sample_weight)
        if self.projection is not None:
            student_hidden = _last_hidden(self.student.backbone, x, training)
            teacher_hidden = ops.stop_gradient(_last_hidden(self.teacher.backbone, x))
            error = ops.mean(ops.square(self.projection(student_hidden) - teacher_hidden), -1)
            loss += self.hidden_weight * _weighted_mean(error, x["padding_mask"])
        return loss


def _weighted_mean(values, weights):
    if weights is None:
        return ops.mean(values)
    weights = ops.cast(ops.reshape(weights, ops.shape(values)), values.dtype)
    return ops.sum(values * weights) / ops.maximum(ops.sum(weights), 1e-9)


# A backbone's last hidden states, by stack: encoders return a dict of outputs, decoders the
# hidden states themselves.
LAST_HIDDEN = {"encoder": lambda f: f["sequence_output"], "decoder": lambda f: f}


def _last_hidden(backbone, inputs, training=False):
    return LAST_HIDDEN[backbone.config.stack](backbone(inputs, training=training))


def agreement(teacher, student, inputs) -> float:
    """Fraction of rows (or tokens) where the student's top class is the teacher's."""
    same = ops.argmax(teacher(inputs), -1) == ops.argmax(student(inputs), -1)
    return float(ops.mean(ops.cast(same, "float32")))
