"""Multi-task fine-tuning: one backbone, one head per task, all trained in the same `fit`."""

import keras

from kzoo.tasks.task import Task, backbone_inputs


@keras.saving.register_keras_serializable(package="kzoo")
class MultiTask(Task):
    """Several task heads on one shared backbone; outputs and losses are keyed by task name.

    `heads` maps a name to `(TaskClass, arguments)`. Train it on `kzoo.data.mix_task_batches`,
    whose sample weights switch off the losses (and metrics) of the tasks a batch is not from.

    Example:
        >>> model = MultiTask(encoder, {"sentiment": (Classifier, {"num_classes": 2}),
        ...                             "ner": (TokenClassifier, {"label_names": CONLL_LABELS})})
        >>> model.compile()
        >>> model.fit(data.mix_task_batches({"sentiment": sst2, "ner": conll}, {"sentiment": 1, "ner": 2}),
        ...           steps_per_epoch=1000)
    """

    def __init__(self, backbone, heads: dict, **kwargs):
        specs = {name: _spec(head) for name, head in heads.items()}
        self.tasks = {name: keras.saving.get_registered_object(spec["class_name"])(backbone, name=name,
                                                                                   **spec["config"])
                      for name, spec in specs.items()}
        nested = [name for name, task in self.tasks.items() if isinstance(task.output, dict)]
        if nested:
            raise ValueError(f"MultiTask heads need one output each; {nested} have several. Train those tasks "
                             f"on their own, or share the backbone between separate task models.")
        inputs = backbone_inputs(backbone)
        outputs = {name: task(inputs) for name, task in self.tasks.items()}
        super().__init__(inputs=inputs, outputs=outputs, backbone=backbone, head_config={"heads": specs}, **kwargs)

    def default_loss(self):
        return {name: task.default_loss() for name, task in self.tasks.items()}

    def default_weighted_metrics(self):
        # weighted, so a task's metrics only count the batches that came from it
        return {name: (task.default_metrics() or []) + (task.default_weighted_metrics() or [])
                for name, task in self.tasks.items()}


def _spec(head) -> dict:
    """`(TaskClass, arguments)` or an already serialised `{"class_name", "config"}`."""
    if isinstance(head, dict):
        return head
    cls, arguments = head
    return {"class_name": keras.saving.get_registered_name(cls), "config": dict(arguments)}
