"""A node without the launcher's dataset table copies it from the results store (mtlsearch.data.distribute)."""

from dataclasses import asdict

from mtlsearch.data.canonical import read_info
from mtlsearch.data.distribute import local_table, publish_table
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions
from mtlsearch.models.plan import make_plan
from mtlsearch.train.job import TrainJob
from mtlsearch.train.trainer import MultiTaskTrainer


def test_table_is_published_once_and_copied_where_missing(tmp_path):
    path = prepare("synthetic", SyntheticOptions(num_tasks=2, num_groups=1, num_samples=200), tmp_path / "head")
    store = tmp_path / "store" / "datasets"
    uri = publish_table(path, str(store))
    assert uri == f"{store}/{path.parent.name}/table.parquet"
    mtime = (store / path.parent.name / "table.parquet").stat().st_mtime_ns
    assert publish_table(path, str(store)) == uri and (store / path.parent.name / "table.parquet").stat().st_mtime_ns == mtime
    assert local_table(str(path), uri) == str(path)  # present: used as is
    elsewhere = tmp_path / "other-node" / path.parent.name / "table.parquet"
    assert local_table(str(elsewhere), uri) == str(elsewhere) and elsewhere.read_bytes() == path.read_bytes()
    info = read_info(path)
    job = TrainJob(
        dataset_path=str(tmp_path / "node3" / path.parent.name / "table.parquet"),
        dataset_uri=uri,
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan("MTL", info.task_names).to_dict(),
        encoder={"type": "mlp", "hidden_dims": [8]},
        epochs=1,
        batch_size=32,
        lr=1e-3,
    )
    trainer = MultiTaskTrainer(job)  # reads the copy it made
    assert trainer.data["train"][0].shape[0] > 0
    assert (tmp_path / "node3" / path.parent.name / "table.parquet").is_file()
