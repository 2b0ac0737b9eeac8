"""The closed sets a user chooses from, as types (so a typo is a type error) and as the
tuples that command-line choices and rubric validation read."""

from __future__ import annotations

from typing import Literal, get_args

# Which stored cases: one split, or both.
Split = Literal["public", "hidden"]
CasesChoice = Literal["all", "public", "hidden"]
# What to grade when a submission has both a layers module and a notebook.
Source = Literal["auto", "module", "notebook"]
# What dropout's p means: the probability to keep a unit (2018 on) or to drop it (2016-17).
DropoutMeaning = Literal["keep", "drop"]
# Whether a function that changes its input arrays in place is warned or loses the case.
Mutation = Literal["warning", "penalty"]
# The shape of group norm's gamma and beta: (1, C, 1, 1) (the current course) or (C,).
GroupnormShape = Literal["broadcast", "vector"]

SPLITS: tuple[Split, ...] = get_args(Split)
CASES_CHOICES: tuple[CasesChoice, ...] = get_args(CasesChoice)
SOURCES: tuple[Source, ...] = get_args(Source)
DROPOUT_MEANINGS: tuple[DropoutMeaning, ...] = get_args(DropoutMeaning)
MUTATIONS: tuple[Mutation, ...] = get_args(Mutation)
GROUPNORM_SHAPES: tuple[GroupnormShape, ...] = get_args(GroupnormShape)


def splits_of(cases: CasesChoice) -> tuple[Split, ...]:
    """The splits a ``cases`` choice grades, public first."""
    return SPLITS if cases == "all" else (cases,)


# How workers are isolated: in namespaces of their own (bubblewrap); as an unprivileged
# uid with the staff files unreadable to it (container: root where bubblewrap cannot make
# namespaces); or with resource limits only (processes).
Isolation = Literal["bubblewrap", "container", "processes"]
IsolationChoice = Literal["auto", "bubblewrap", "container", "processes"]
ISOLATIONS: tuple[Isolation, ...] = get_args(Isolation)
ISOLATION_CHOICES: tuple[IsolationChoice, ...] = get_args(IsolationChoice)
