"""Figures stage: an experiment's figures (each with the CSV of what it plots) and its page.

python workflow/scripts/figures.py [--params params.yaml] --results results/<exp>
    --metrics metrics/<exp> --out results/<exp>/figures
"""

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401

from memtr import stage
from memtr.config.params import load_params
from memtr.reports.figures import draw_all
from memtr.reports.page import write_page


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    for name in ("results.csv", "claims.csv"):
        if not (args.results / name).is_file():
            raise FileNotFoundError(f"missing {args.results / name}: run the tables stage first")
    # drawn into staging folders, which replace the previous figures and page only once both
    # are written: a failure leaves the previous ones (dvc.yaml: persist)
    with (
        stage.staged_outputs(args.out.parent, "figures") as staged,
        stage.staged_outputs(args.results, "page") as page_dir,
    ):
        figures = staged / args.out.name
        figures.mkdir()
        drawn = draw_all(
            params.experiment, params.spec, params.eval.splits, args.results, args.metrics, figures
        )
        write_page(
            params.experiment.name, params.spec, params.data.dataset, args.results, figures,
            page_dir / "report.html",
        )  # fmt: skip
    print(f"{len(drawn)} figures in {args.out}: {', '.join(p.stem for p in drawn)}")
    print(f"report page: {args.results / 'report.html'}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--results", type=Path, required=True, help="results/<exp> (the tables)")
    p.add_argument("--metrics", type=Path, required=True, help="metrics/<exp> (the runs' logs)")
    p.add_argument("--out", type=Path, required=True, help="results/<exp>/figures")
    p.add_argument("--quiet", action="store_true")
    return p


if __name__ == "__main__":
    stage.run(main, parser())
