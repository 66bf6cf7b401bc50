"""Prompts: a small caption grammar, its parser, an exact checker of scenes, and prompt generators.

A prompt states one to three facts about a scene, joined by "and" or commas:

    a red cube to the left of a blue cylinder and a yellow sphere behind the cube
    three spheres
    a small metal cylinder, no red cubes and a sphere in front of the cylinder

Grammar (case-insensitive; extra spaces and a final "." are ignored):

    prompt    := fact ( ("," | "and" | ", and") fact ){0,2}
    fact      := ("a" | "an") desc                                        # exists
               | NUMBER desc                                              # exact count
               | ("a" | "an") desc RELATION ( ("a" | "an") desc | "the" desc )
    desc      := [size] [colour] [material] shape                        # in this order
    RELATION  := "to the left of" | "left of" | "to the right of" | "right of" | "in front of" | "behind"

Sizes are small and large; colours the palette's names (and "grey"); materials matte, metal
and rubber (CLEVR's name for matte); shapes cube, cylinder, sphere, or object / thing for any
shape. NUMBER is no, zero, one ... ten or 0 ... 10. After "a", "an", "the" and "one" the shape
is singular ("a cube", "one cube"), after the other numbers plural ("no cubes", "two spheres").

Semantics. Every "a <desc>" introduces a *variable*: an object of the scene that fits the
description. Distinct variables are distinct objects, so "a cube and a cube" needs two cubes.
"the <desc>" refers back to the most recent variable introduced by an *earlier* fact whose
description names every attribute the reference names: in the first example "the cube" is
the red cube. A count is exact: "two red cubes" means exactly two, "no spheres" none. Relations
are the viewer's, decided as in `worlds.captions.relations` with margin 0: in 2D "left of"
is smaller x and "behind" larger y (up in the image); in 3D they follow the camera.

A prompt holds in a scene when one assignment of its variables to distinct objects fits
every description and relation, and every count is exact (`check(...).overall`). `check` also
judges each fact alone, for a UI that ticks facts off one by one.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from .captions import RELATIONS, relations
from .scene import (
    COLOR_NAMES,
    MATERIAL_ALIASES,
    MATERIALS,
    MAX_OBJECTS,
    SHAPES,
    SIZES,
    Object,
    Scene,
    brief,
    nearest_color_name,
)
from .world import World, get_world, sample_scenes

__all__ = [
    "CATEGORIES",
    "KINDS",
    "MAX_FACTS",
    "MAX_PROMPT_CHARS",
    "Count",
    "Description",
    "Exists",
    "Prompt",
    "PromptError",
    "Relation",
    "Verdict",
    "benchmark_prompts",
    "check",
    "check_world",
    "names_held_out",
    "parse",
    "render_prompt",
    "true_prompt",
]

MAX_PROMPT_CHARS = 200
MAX_FACTS = 3
KINDS = ("exists", "count", "relation")
CATEGORIES = (
    "single_object",
    "two_objects",
    "counting",
    "colors",
    "position",
    "color_attribution",
    "held_out",
    "three_facts",
)
ATTRIBUTES = ("shape", "color", "size", "material")
_NOUNS = {"shape": "shape", "color": "colour", "size": "size", "material": "material"}


class PromptError(ValueError):
    """A prompt cannot be read, or asks for what a world cannot hold; the message says what and where."""


# --- the vocabulary ----------------------------------------------------------------------

_SIZE_WORDS = {name: name for name in SIZES}
_COLOR_WORDS = {name: name for name in COLOR_NAMES} | {"grey": "gray"}
_MATERIAL_WORDS = {name: name for name in MATERIALS} | MATERIAL_ALIASES
# word -> (shape, is plural); "object" and "thing" leave the shape open
_SHAPE_WORDS = {
    word + ending: (shape, ending == "s")
    for shape, word in [*zip(SHAPES, SHAPES), (None, "object"), (None, "thing")]
    for ending in ("", "s")
}
_NUMBER_NAMES = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_NUMBER_WORDS = {name: n for n, name in enumerate(_NUMBER_NAMES)} | {"zero": 0}
_RELATION_WORDS = {  # longest phrase first, so "to the left of" is not read as "to ..."
    ("to", "the", "left", "of"): "left",
    ("left", "of"): "left",
    ("to", "the", "right", "of"): "right",
    ("right", "of"): "right",
    ("in", "front", "of"): "front",
    ("behind",): "behind",
}
_PHRASES = {"left": "to the left of", "right": "to the right of", "front": "in front of", "behind": "behind"}
_VOCABULARY = (
    {"a", "an", "the", "and", ","}
    | {word for phrase in _RELATION_WORDS for word in phrase}
    | set(_SIZE_WORDS) | set(_COLOR_WORDS) | set(_MATERIAL_WORDS) | set(_SHAPE_WORDS) | set(_NUMBER_WORDS)
)  # fmt: skip
_ALLOWED = (
    f"sizes: {', '.join(SIZES)}; colours: {', '.join(COLOR_NAMES)} (or grey); materials: matte, metal, rubber; "
    "shapes: cube, cylinder, sphere, object, thing (or their plurals); numbers: no, zero, one…ten, 0…10; "
    f"relations: {', '.join(' '.join(p) for p in _RELATION_WORDS)}; 'a', 'an', 'the', and 'and' or ',' between facts"
)


def _quote(word: str) -> str:
    """A word of the prompt for an error message, cut to 20 characters."""
    return repr(word if len(word) <= 20 else word[:19] + "…")


def _is_digits(word: str) -> bool:
    return word.isascii() and word.isdigit()


def _size_name(size: str | float) -> str:
    """'small' or 'large': a size name passes through, a radius goes to the nearest name (as `Object.size_name`)."""
    return size if isinstance(size, str) else min(SIZES, key=lambda name: abs(SIZES[name] - size))


# --- what a prompt says ------------------------------------------------------------------


@dataclass(frozen=True)
class Description:
    """What a prompt says of an object; None leaves an attribute open.
    `Description("cube", "red")` reads 'red cube', `Description()` reads 'object'."""

    shape: str | None = None  # one of SHAPES
    color: str | None = None  # a palette name
    size: str | None = None  # "small" or "large"
    material: str | None = None  # one of MATERIALS

    def __post_init__(self):
        for attr, options in zip(ATTRIBUTES, (SHAPES, COLOR_NAMES, tuple(SIZES), MATERIALS)):
            if getattr(self, attr) not in (None, *options):
                raise PromptError(
                    f"a {_NOUNS[attr]} must be one of {', '.join(options)}, got {brief(getattr(self, attr))}"
                )

    def named(self) -> dict[str, str]:
        """The attributes this description names, e.g. {'shape': 'cube', 'color': 'red'}."""
        return {attr: getattr(self, attr) for attr in ATTRIBUTES if getattr(self, attr) is not None}

    def matches(self, obj: Object) -> bool:
        seen = {"shape": obj.shape, "color": obj.color_name, "size": obj.size_name, "material": obj.material}
        return all(seen[attr] == value for attr, value in self.named().items())

    def implies(self, other: Description) -> bool:
        """Whether every object this describes fits `other`: it names all of other's attributes, alike."""
        return other.named().items() <= self.named().items()

    def excludes(self, other: Description) -> bool:
        """Whether no object fits both: the two name some attribute with different values."""
        mine = self.named()
        return any(attr in mine and mine[attr] != value for attr, value in other.named().items())

    def text(self, plural: bool = False) -> str:
        """'small red metal cube', or with `plural` 'small red metal cubes'; 'object(s)' when the shape is open."""
        words = [w for w in (self.size, self.color, self.material) if w] + [self.shape or "object"]
        return " ".join(words) + ("s" if plural else "")


@dataclass(frozen=True)
class Exists:
    """'a red cube': variable `var` is an object of the scene that fits its description."""

    var: int


@dataclass(frozen=True)
class Count:
    """'two red cubes': exactly `number` objects of the scene fit `what`."""

    number: int
    what: Description

    def __post_init__(self):
        if not 0 <= self.number <= MAX_OBJECTS:
            raise PromptError(f"a count must be in 0..{MAX_OBJECTS} (a scene's most objects), got {self.number}")


@dataclass(frozen=True)
class Relation:
    """'a cube to the left of a sphere': variable `subject` stands in `relation` (one of RELATIONS)
    to variable `object`, as the viewer sees it."""

    subject: int
    relation: str
    object: int

    def __post_init__(self):
        if self.relation not in RELATIONS:
            raise PromptError(f"a relation must be one of {', '.join(RELATIONS)}, got {brief(self.relation)}")
        if self.subject == self.object:
            raise PromptError(f"a relation needs two variables, got {self.subject} twice")


Fact = Exists | Count | Relation


@dataclass(frozen=True)
class Prompt:
    """A prompt read into its variables (descriptions, in order of mention) and facts about them."""

    text: str
    variables: tuple[Description, ...]
    facts: tuple[Fact, ...]

    def fact_texts(self) -> list[str]:
        """One phrase per fact in canonical words ('a red cube', 'three spheres', 'a sphere behind the cube')."""
        return _fact_phrases(self.variables, self.facts)


@dataclass(frozen=True)
class Verdict:
    """How a scene measures up to a prompt."""

    facts: tuple[bool, ...]  # each fact judged alone
    overall: bool  # all facts at once, with one distinct object per variable
    binding: tuple[int, ...] | None = None  # when overall: a witness, binding[v] = the object index of variable v


# --- reading and writing prompts -----------------------------------------------------------


def _resolve(earlier: list[Description] | tuple[Description, ...], reference: Description) -> int | None:
    """The variable 'the <reference>' names: the latest earlier one whose description implies the reference."""
    return next((v for v in reversed(range(len(earlier))) if earlier[v].implies(reference)), None)


def _reference(earlier: tuple[Description, ...], var: int) -> Description | None:
    """The fewest words after 'the' that name variable `var` among `earlier` (its shape, then as few of
    its other attributes as needed); None when a later variable fits every word of it too."""
    named = earlier[var].named()
    extras = [attr for attr in ATTRIBUTES[1:] if attr in named]
    for k in range(len(extras) + 1):
        for subset in itertools.combinations(extras, k):
            reference = Description(named.get("shape"), **{attr: named[attr] for attr in subset})
            if _resolve(earlier, reference) == var:
                return reference
    return None


def _a(description: Description) -> str:
    text = description.text()
    return f"{'an' if text[0] in 'aeiou' else 'a'} {text}"


def _fact_phrases(variables: tuple[Description, ...], facts: tuple[Fact, ...]) -> list[str]:
    phrases = []
    for fact in facts:
        if isinstance(fact, Exists):
            phrases.append(_a(variables[fact.var]))
        elif isinstance(fact, Count):
            phrases.append(f"{_NUMBER_NAMES[fact.number]} {fact.what.text(plural=fact.number != 1)}")
        else:
            target = _a(variables[fact.object])
            if fact.object < fact.subject:  # introduced by an earlier fact: refer back to it
                reference = _reference(variables[: fact.subject], fact.object)
                if reference is None:
                    raise PromptError(f"'the' cannot name variable {fact.object}: a later variable fits all its words")
                target = f"the {reference.text()}"
            phrases.append(f"{_a(variables[fact.subject])} {_PHRASES[fact.relation]} {target}")
    return phrases


def render_prompt(variables, facts) -> str:
    """Canonical text of a prompt, such that `parse(render_prompt(v, f))` has variables v and facts f.

    The facts must introduce the variables in order (0, 1, 2, ...): an Exists and a Relation's
    subject introduce the next one, a Relation's object is either the next one or an earlier one.
    """
    variables, facts = tuple(variables), tuple(facts)
    if not 1 <= len(facts) <= MAX_FACTS:
        raise PromptError(f"a prompt has 1 to {MAX_FACTS} facts, got {len(facts)}")
    introduced = 0
    for fact in facts:
        if isinstance(fact, Exists):
            new = [fact.var]
        elif isinstance(fact, Relation):  # its object is new unless it refers back
            new = [fact.subject, fact.object] if fact.object > fact.subject else [fact.subject]
        else:
            new = []
        for var in new:
            if var != introduced:
                raise PromptError(f"the facts must introduce variables in order: expected {introduced}, got {var}")
            introduced += 1
    if introduced != len(variables):
        raise PromptError(f"the facts introduce {introduced} variables, but {len(variables)} are given")
    phrases = _fact_phrases(variables, facts)
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


class _Parser:
    """Recursive descent over a prompt's words, one method per rule of the grammar."""

    def __init__(self, words: list[str]):
        self.words, self.pos = words, 0
        self.variables: list[Description] = []
        self.facts: list[Fact] = []

    def peek(self) -> str | None:
        return self.words[self.pos] if self.pos < len(self.words) else None

    def take(self) -> str:
        self.pos += 1
        return self.words[self.pos - 1]

    def fail(self, expected: str, options: str = "", came: str | None = None):
        where = f"after {_quote(self.words[self.pos - 1])}" if self.pos else "at the start"
        came = came or (_quote(self.peek()) if self.peek() is not None else "the end of the prompt")
        raise PromptError(f"expected {expected} {where}{f' ({options})' if options else ''}, got {came}")

    def prompt(self):
        self.fact()
        while self.peek() is not None:
            if self.peek() not in (",", "and"):
                self.fail("'and', ',' or the end of the prompt")
            if self.take() == "," and self.peek() == "and":
                self.take()
            self.fact()

    def fact(self):
        word = self.peek()
        if word in ("a", "an"):
            self.take()
            self.variables.append(self.description(word))
            subject = len(self.variables) - 1
            relation = self.relation()
            if relation is None:
                self.facts.append(Exists(subject))
                return
            article = self.peek()
            if article in ("a", "an"):
                self.take()
                self.variables.append(self.description(article))
                self.facts.append(Relation(subject, relation, len(self.variables) - 1))
            elif article == "the":
                self.take()
                reference = self.description("the")
                target = _resolve(self.variables[:subject], reference)
                if target is None:
                    raise PromptError(
                        f"'the {reference.text()}' refers to no {reference.text()} mentioned before it "
                        "('the' looks back to earlier facts)"
                    )
                self.facts.append(Relation(subject, relation, target))
            else:
                self.fail("the relation's object", "'a', 'an' or 'the' and a description")
        elif word in _NUMBER_WORDS or _is_digits(word or ""):
            number = _NUMBER_WORDS[word] if word in _NUMBER_WORDS else int(word)
            if number > MAX_OBJECTS:
                raise PromptError(f"a count can be at most {MAX_OBJECTS} (a scene's most objects), got {_quote(word)}")
            self.take()
            self.facts.append(Count(number, self.description(word, plural=number != 1)))
        else:
            self.fail("a fact", "'a' or 'an' and a description, or a number: no, one…ten")

    def description(self, after: str, plural: bool = False) -> Description:
        named = {}
        for attr, words in (("size", _SIZE_WORDS), ("color", _COLOR_WORDS), ("material", _MATERIAL_WORDS)):
            if self.peek() in words:
                named[attr] = words[self.take()]
        word = self.peek()
        if word not in _SHAPE_WORDS:
            if any(word in words for words in (_SIZE_WORDS, _COLOR_WORDS, _MATERIAL_WORDS)):
                self.fail("a shape", "attributes go in the order size, colour, material, shape: 'small red metal cube'")
            self.fail("a shape", "cube, cylinder, sphere, object")
        shape, is_plural = _SHAPE_WORDS[self.take()]
        if is_plural != plural:
            wanted = word + "s" if plural else word[:-1]
            raise PromptError(
                f"{_quote(after)} needs the {'plural' if plural else 'singular'} {wanted!r}, got {word!r}"
            )
        return Description(shape, **named)

    def relation(self) -> str | None:
        for phrase, relation in _RELATION_WORDS.items():
            if tuple(self.words[self.pos : self.pos + len(phrase)]) == phrase:
                self.pos += len(phrase)
                return relation
        if any(self.peek() == phrase[0] for phrase in _RELATION_WORDS):  # a relation begun but not finished
            self.fail("a relation", ", ".join(_PHRASES.values()), _quote(" ".join(self.words[self.pos : self.pos + 4])))
        return None


def parse(text: str) -> Prompt:
    """Read a prompt; a PromptError says what is wrong, where, and what would do."""
    if not isinstance(text, str):
        raise PromptError(f"a prompt must be text, got {type(text).__name__}")
    text = text.strip()
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptError(f"the prompt is {len(text):,} characters; at most {MAX_PROMPT_CHARS}")
    words = re.findall(r",|[^\s,]+", text.lower().removesuffix("."))
    if not words:
        raise PromptError("the prompt is empty; try e.g. 'a red cube to the left of a blue sphere'")
    for k, word in enumerate(words):
        if word not in _VOCABULARY and not _is_digits(word):
            number = 1 + sum(w != "," for w in words[:k])
            raise PromptError(f"unknown word {_quote(word)} (word {number}); prompts use {_ALLOWED}")
    parser = _Parser(words)
    parser.prompt()
    if len(parser.facts) > MAX_FACTS:
        raise PromptError(f"at most {MAX_FACTS} facts, got {len(parser.facts)}")
    return Prompt(text, tuple(parser.variables), tuple(parser.facts))


# --- checking scenes and worlds ------------------------------------------------------------


def _assign(fits: list[list[int]], links: list[Relation], holds: set) -> tuple[int, ...] | None:
    """Depth-first search for distinct objects, one per variable from its fitting ones, that satisfy
    every relation; a relation is tested as soon as both its variables have objects."""
    binding: list[int] = []

    def extend(var: int) -> bool:
        if var == len(fits):
            return True
        for index in fits[var]:
            if index in binding:
                continue
            binding.append(index)
            if all(
                (binding[r.subject], r.relation, binding[r.object]) in holds
                for r in links
                if max(r.subject, r.object) == var
            ) and extend(var + 1):
                return True
            binding.pop()
        return False

    return tuple(binding) if extend(0) else None


def check(prompt: Prompt, scene: Scene) -> Verdict:
    """Judge a scene against a prompt, exactly: each fact alone, and all at once (see the module docstring)."""
    holds = {(f["subject"], f["relation"], f["object"]) for f in relations(scene, margin=0.0)}
    fits = [[i for i, obj in enumerate(scene.objects) if d.matches(obj)] for d in prompt.variables]

    def holds_alone(fact: Fact) -> bool:
        if isinstance(fact, Exists):
            return bool(fits[fact.var])
        if isinstance(fact, Count):
            return sum(fact.what.matches(obj) for obj in scene.objects) == fact.number
        return any((i, fact.relation, j) in holds for i in fits[fact.subject] for j in fits[fact.object])

    alone = tuple(holds_alone(fact) for fact in prompt.facts)
    counts_hold = all(ok for fact, ok in zip(prompt.facts, alone) if isinstance(fact, Count))
    links = [fact for fact in prompt.facts if isinstance(fact, Relation)]
    binding = _assign(fits, links, holds) if counts_hold else None
    return Verdict(alone, binding is not None, binding)


def _world_values(world: World) -> dict[str, tuple[str, ...]]:
    """The attribute values, by name, that a world's objects can take."""
    by_size = sorted(SIZES, key=SIZES.get)
    radii = world.size_range or world.sizes
    lo, hi = by_size.index(_size_name(min(radii))), by_size.index(_size_name(max(radii)))
    return {
        "shape": world.shapes,
        "color": tuple(dict.fromkeys(nearest_color_name(c) for c in world.colors)),
        "size": tuple(by_size[lo : hi + 1]),
        "material": world.materials,
    }


def _descriptions(prompt: Prompt) -> list[Description]:
    return [*prompt.variables, *(fact.what for fact in prompt.facts if isinstance(fact, Count))]


def _objects_needed(prompt: Prompt) -> int:
    """A lower bound on the objects of a scene that satisfies the prompt. The variables are distinct
    objects; counts of descriptions that exclude each other count distinct objects, and so do the
    variables that fit none of those descriptions. (Counts and variables that may overlap are
    not added up: this is a bound, `check` is the judge.)"""
    counts = [fact for fact in prompt.facts if isinstance(fact, Count)]
    needed = len(prompt.variables)
    for k in range(1, len(counts) + 1):
        for group in itertools.combinations(counts, k):
            if all(a.what.excludes(b.what) for a, b in itertools.combinations(group, 2)):
                outside = sum(all(v.excludes(c.what) for c in group) for v in prompt.variables)
                needed = max(needed, sum(c.number for c in group) + outside)
    return needed


def check_world(prompt: Prompt, world: World | str) -> None:
    """Raise PromptError if no scene of `world` could satisfy the prompt for a reason seen without a
    scene: an attribute value the world lacks, a count smaller than the variables it must include
    ('one cube and a cube and a cube'), or more objects than the world holds. Held-out combinations
    pass: asking for them is what composition tests do."""
    world = get_world(world)
    values = _world_values(world)
    for description in _descriptions(prompt):
        for attr, value in description.named().items():
            if value not in values[attr]:
                noun = _NOUNS[attr]
                raise PromptError(
                    f"world {world.name!r} has no {noun} {value!r}; its {noun}s: {', '.join(values[attr])}"
                )
    for fact in prompt.facts:
        if isinstance(fact, Count):
            inside = sum(v.implies(fact.what) for v in prompt.variables)
            if inside > fact.number:
                said = _fact_phrases(prompt.variables, (fact,))[0]
                raise PromptError(f"the prompt says {said!r} but introduces {inside} of them")
    needed, most = _objects_needed(prompt), world.num_objects[1]
    if needed > most:
        raise PromptError(f"the prompt needs at least {needed} objects; world {world.name!r} holds at most {most}")


def names_held_out(prompt: Prompt, held_out) -> bool:
    """Whether a description of the prompt names every attribute of a held-out combination (given as in
    `World.held_out`): 'a small red cylinder' names red cylinders, 'a red object' does not."""
    return any(d.implies(_combo(combo)) for d in _descriptions(prompt) for combo in held_out)


def _combo(combo) -> Description:
    """A held-out combination ((key, value), ...) as the description it forbids."""
    convert = {"shape": str, "color": nearest_color_name, "size": _size_name, "material": str}
    return Description(**{key: convert[key](value) for key, value in combo})


# --- prompts that are true of a scene -------------------------------------------------------


def _describe(obj: Object, rng: np.random.Generator) -> Description:
    """The object's shape, its colour with probability 0.7, its size and material with 1/2 each."""
    coins = rng.random(3)
    return Description(
        obj.shape,
        obj.color_name if coins[0] < 0.7 else None,
        obj.size_name if coins[1] < 0.5 else None,
        obj.material if coins[2] < 0.5 else None,
    )


# Each maker below proposes one true fact about `scene`, given the variables so far and the objects
# they are bound to: it returns (fact, [(description, object index) of each new variable]), or None
# when the scene has no such fact left (every object already bound, no related pair).


def _true_exists(scene, rng, variables, binding, holds):
    free = [i for i in range(len(scene.objects)) if i not in binding]
    if not free:
        return None
    index = free[rng.integers(len(free))]
    return Exists(len(variables)), [(_describe(scene.objects[index], rng), index)]


def _true_count(scene, rng, variables, binding, holds):
    if not scene.objects:
        return Count(0, Description()), []
    obj = scene.objects[rng.integers(len(scene.objects))]
    coins = rng.random(4)
    what = Description(
        obj.shape if coins[0] < 0.85 else None,
        obj.color_name if coins[1] < 0.5 else None,
        obj.size_name if coins[2] < 0.25 else None,
        obj.material if coins[3] < 0.25 else None,
    )
    return Count(sum(what.matches(o) for o in scene.objects), what), []


def _true_relation(scene, rng, variables, binding, holds):
    """A new subject related either to an earlier variable ('the ...', half the time when one is
    referable) or to a new object."""
    free = [i for i in range(len(scene.objects)) if i not in binding]
    related = lambda i, j: [r for r in RELATIONS if (i, r, j) in holds]
    earlier = [(var, j) for var, j in enumerate(binding) if _reference(variables, var) is not None]
    reuse = [(i, var, j) for i in free for var, j in earlier if related(i, j)]
    fresh = [(i, None, j) for i in free for j in free if related(i, j)]
    pool = reuse if reuse and (not fresh or rng.random() < 0.5) else fresh
    if not pool:
        return None
    i, var, j = pool[rng.integers(len(pool))]
    options = related(i, j)
    subject, new = len(variables), [(_describe(scene.objects[i], rng), i)]
    if var is None:
        var = subject + 1
        new.append((_describe(scene.objects[j], rng), j))
    return Relation(subject, options[rng.integers(len(options))], var), new


_TRUE_FACTS = {"exists": _true_exists, "count": _true_count, "relation": _true_relation}


def true_prompt(
    scene: Scene, rng: np.random.Generator, *, facts: int | None = None, kinds=KINDS
) -> tuple[Prompt, tuple[int, ...]]:
    """A random prompt of `facts` (default: 1 to 3) distinct facts of `kinds` that is true of `scene`,
    and its binding: binding[v] is the index of the object variable v was drawn from.

    Descriptions name only attributes of their object (always its shape); counts are the scene's
    exact counts (at least one, unless the scene is empty); relations hold at margin 0. Made for
    (scene, prompt) training pairs of text-conditional scene models.
    """
    if facts is not None and not 1 <= facts <= MAX_FACTS:
        raise PromptError(f"facts must be in 1..{MAX_FACTS}, got {facts!r}")
    kinds = tuple(kinds)
    if not kinds or set(kinds) - set(KINDS):
        raise PromptError(f"kinds must be some of {', '.join(KINDS)}, got {brief(kinds)}")
    number = facts if facts is not None else int(rng.integers(1, MAX_FACTS + 1))
    holds = {(f["subject"], f["relation"], f["object"]) for f in relations(scene, margin=0.0)}
    variables, chosen, binding = [], [], []
    for _ in range(number):
        for _attempt in range(50):
            made = _TRUE_FACTS[kinds[rng.integers(len(kinds))]](scene, rng, variables, binding, holds)
            if made is not None and made[0] not in chosen:
                chosen.append(made[0])
                for description, index in made[1]:
                    variables.append(description)
                    binding.append(index)
                break
        else:
            raise PromptError(
                f"found no {number} distinct true facts of kinds {', '.join(kinds)} in a scene of "
                f"{len(scene.objects)} objects"
            )
    prompt = Prompt(render_prompt(variables, chosen), tuple(variables), tuple(chosen))
    return prompt, tuple(binding)


# --- a fixed benchmark, GenEval-style ---------------------------------------------------------


@dataclass(frozen=True)
class _Menu:
    """What benchmark prompts may ask of a world: its attribute values, its most objects, its held-out combinations."""

    values: dict[str, tuple[str, ...]]
    max_objects: int
    held_out: tuple[Description, ...]

    def pick(self, rng: np.random.Generator, attr: str) -> str:
        return self.values[attr][rng.integers(len(self.values[attr]))]

    def description(self, rng: np.random.Generator, color: float = 0.5, other: float = 0.3) -> Description:
        """A shape, a colour with probability `color`, a size and a material with `other` each."""
        coins = rng.random(3)
        return Description(
            self.pick(rng, "shape"),
            self.pick(rng, "color") if coins[0] < color else None,
            self.pick(rng, "size") if coins[1] < other else None,
            self.pick(rng, "material") if coins[2] < other else None,
        )


def _single_object(rng, menu):  # 'a small metal sphere'
    return [menu.description(rng, other=0.5)], [Exists(0)]


def _two_objects(rng, menu):  # 'a cube and a sphere'
    return [menu.description(rng, color=0.3, other=0.2) for _ in range(2)], [Exists(0), Exists(1)]


def _counting(rng, menu):  # 'three spheres', 'two red cubes'
    return [], [Count(int(rng.integers(1, menu.max_objects + 1)), menu.description(rng, other=0.0))]


def _colors(rng, menu):  # 'a red cube'
    return [Description(menu.pick(rng, "shape"), menu.pick(rng, "color"))], [Exists(0)]


def _position(rng, menu):  # 'a cube to the left of a small sphere'
    relation = RELATIONS[rng.integers(len(RELATIONS))]
    return [menu.description(rng, other=0.25) for _ in range(2)], [Relation(0, relation, 1)]


def _color_attribution(rng, menu):  # 'a red cube and a blue sphere'
    shapes, colors = menu.values["shape"], menu.values["color"]
    if len(shapes) < 2 or len(colors) < 2:
        return None
    s, c = rng.permutation(len(shapes))[:2], rng.permutation(len(colors))[:2]
    return [Description(shapes[s[k]], colors[c[k]]) for k in range(2)], [Exists(0), Exists(1)]


def _held_out(rng, menu):  # 'a red cylinder', 'two red cylinders', 'a cube behind a small red cylinder'
    combo = menu.held_out[rng.integers(len(menu.held_out))].named()
    extra = {attr: v for attr, v in menu.description(rng, color=0.0).named().items() if attr not in ("shape", *combo)}
    held, other = Description(**combo, **extra), menu.description(rng)
    form = rng.integers(4)
    if form == 0:
        return [held], [Exists(0)]
    if form == 1:
        return [], [Count(int(rng.integers(1, menu.max_objects + 1)), held)]
    if form == 2:
        return [held, other], [Exists(0), Exists(1)]
    pair = [held, other] if rng.random() < 0.5 else [other, held]
    return pair, [Relation(0, RELATIONS[rng.integers(len(RELATIONS))], 1)]


def _three_facts(world: World, seed: int, rng: np.random.Generator, scenes: int):
    """Three true facts (variables, facts) of at least two kinds about the world's first `scenes` scenes, in turn."""
    for start in range(0, scenes, 100):
        for scene in sample_scenes(world, seed, range(start, min(start + 100, scenes))):
            try:
                prompt, _ = true_prompt(scene, rng, facts=3)
            except PromptError:  # too few objects for three distinct facts
                continue
            if len({type(fact) for fact in prompt.facts}) > 1:  # mixed kinds, not three counts
                yield prompt.variables, prompt.facts


_MAKERS = {
    "single_object": _single_object,
    "two_objects": _two_objects,
    "counting": _counting,
    "colors": _colors,
    "position": _position,
    "color_attribution": _color_attribution,
    "held_out": _held_out,
}


def benchmark_prompts(world: World | str, seed: int, per_category: int = 70, held_out=()) -> list[tuple[str, Prompt]]:
    """A fixed set of (category, prompt) for text-to-scene models, in CATEGORIES, like GenEval's.

    Each category draws prompts with its own seeded stream until `per_category` differ (up to the
    order of their facts) or 50 * per_category draws are spent: 'colors' has at most shapes x
    colours prompts, and a world too small for a category (two objects in a one-object world) gets
    none. Every prompt passes `check_world`; 'held_out' prompts name a combination of `held_out`
    (as in `World.held_out`; no such category when it is empty), all others name none. 'three_facts'
    are true of scenes sampled from the world, so they are satisfiable by construction.
    """
    if per_category < 1:
        raise PromptError(f"per_category must be at least 1, got {per_category!r}")
    world = get_world(world)
    menu = _Menu(_world_values(world), world.num_objects[1], tuple(_combo(c) for c in held_out))
    out = []
    for k, category in enumerate(CATEGORIES):
        if category == "held_out" and not held_out:
            continue
        rng = np.random.default_rng([seed, k])
        if category == "three_facts":
            draws = _three_facts(world, seed, rng, scenes=20 * per_category)
        else:
            draws = (_MAKERS[category](rng, menu) for _ in range(50 * per_category))
        seen = set()
        for drawn in draws:
            if drawn is None:
                continue
            prompt = Prompt(render_prompt(*drawn), tuple(drawn[0]), tuple(drawn[1]))
            key = tuple(sorted(prompt.fact_texts()))
            if key in seen or names_held_out(prompt, held_out) != (category == "held_out"):
                continue
            try:
                check_world(prompt, world)
            except PromptError:
                continue
            seen.add(key)
            out.append((category, prompt))
            if len(seen) == per_category:
                break
    return out
