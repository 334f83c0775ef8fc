"""Hand-made results frames with known answers, shared by the report tests (no training)."""

from __future__ import annotations

import pandas as pd

NAN = float("nan")


def trials(task: str, strategy: str, seed: int, rows: list[tuple], **columns: object) -> list[dict]:
    """Rows of (trial, state, val_accuracy, test_accuracy, epochs) for one cell, the other columns filled in."""
    return [
        {
            "task": task, "strategy": strategy, "seed": seed, "trial": trial, "state": state,
            "val_accuracy": val, "test_accuracy": test, "epochs": epochs, "seconds": 0.5 * epochs,
            "train_seed": 100 * seed + trial, "fail_reason": "diverged" if state == "FAIL" else None,
            "strategy_note": "", "param_lr": 10.0 ** -(trial + 1), **columns,
        }
        for trial, state, val, test, epochs in rows
    ]


def frame(*cells: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([row for cell in cells for row in cell])


def swap_val_and_test(results: pd.DataFrame) -> pd.DataFrame:
    """The same trials with their validation and test accuracies exchanged."""
    return results.rename(columns={"val_accuracy": "test_accuracy", "test_accuracy": "val_accuracy"})


def curves_for(results: pd.DataFrame) -> pd.DataFrame:
    """One curve row per trial and epoch, as the store's curves frame has them."""
    rows = [
        {"task": r.task, "strategy": r.strategy, "seed": r.seed, "trial": r.trial, "epoch": e,
         "train_loss": 1.0 / e, "val_loss": 1.1 / e, "val_accuracy": 0.5, "lr": r.param_lr, "seconds": 0.5}
        for r in results.itertuples() for e in range(1, r.epochs + 1)
    ]
    return pd.DataFrame(rows)


def three_seeds_and_one() -> pd.DataFrame:
    """tpe over three seeds (val .90/.80/.85, test .70/.60/.80) and random on one seed; tpe appears first."""
    return frame(
        trials("digits-resnet", "tpe", 0, [(0, "COMPLETE", 0.90, 0.70, 4), (1, "PRUNED", NAN, NAN, 1)]),
        trials("digits-resnet", "tpe", 1, [(0, "COMPLETE", 0.80, 0.60, 4), (1, "COMPLETE", 0.70, 0.90, 4)]),
        trials("digits-resnet", "tpe", 2, [(0, "COMPLETE", 0.85, 0.80, 4), (1, "FAIL", NAN, NAN, 2)]),
        trials("digits-resnet", "random", 0, [(0, "COMPLETE", 0.75, 0.72, 5)]),
    )


def textbook_friedman() -> pd.DataFrame:
    """scipy's `friedmanchisquare` example as 7 seeds x 3 strategies (values / 200 as accuracies).

    Ranks per block (1 = best) give rank sums 18, 7, 17: χ² = 12/(7·3·4)·(10² + 21² + 11²) − 3·7·4 = 74/7.
    """
    before = [72, 96, 88, 92, 74, 76, 82]
    after = [120, 120, 132, 120, 101, 96, 112]
    later = [76, 95, 104, 96, 84, 72, 76]
    return frame(*[trials("task", name, seed, [(0, "COMPLETE", values[seed] / 200, 0.5, 1)])
                   for name, values in (("before", before), ("after", after), ("later", later))
                   for seed in range(7)])


def all_tied() -> pd.DataFrame:
    """Three strategies that select .8 on each of three seeds: every rank is 2, Friedman's statistic is 0/0."""
    return frame(*[trials("task", name, seed, [(0, "COMPLETE", 0.8, 0.5, 1)]) for name in "abc" for seed in range(3)])


def friedman_short_of_rejecting() -> pd.DataFrame:
    """Four strategies on four seeds where Friedman's p is .0503 yet Nemenyi's p for (s0, s2) is .031."""
    accuracies = [[0.277, 0.361, 0.577, 0.528], [0.355, 0.637, 0.676, 0.558],
                  [0.387, 0.624, 0.592, 0.340], [0.303, 0.546, 0.612, 0.611]]  # seeds x strategies
    return frame(*[trials("task", f"s{j}", seed, [(0, "COMPLETE", row[j], 0.5, 1)])
                   for j in range(4) for seed, row in enumerate(accuracies)])
