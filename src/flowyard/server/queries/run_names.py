"""Generated run names such as ``honored-cat``: an adjective and an animal.

Names only need to be memorable, not unique (runs are identified by id), so a fast
non-cryptographic choice is enough. About 140 x 140 combinations keep repeats rare within
one flow's recent runs.
"""

from __future__ import annotations

import random

ADJECTIVES = (
    "able", "agile", "amber", "ample", "ancient", "arctic", "ardent", "astute", "azure",
    "balmy", "bold", "brave", "breezy", "bright", "brisk", "bronze", "bubbly", "calm",
    "candid", "careful", "cheerful", "chipper", "civic", "classic", "clever", "cobalt",
    "cosmic", "cozy", "crimson", "crisp", "curious", "daring", "dapper", "dazzling", "deft",
    "devoted", "diligent", "dreamy", "eager", "earnest", "electric", "elegant", "emerald",
    "epic", "fancy", "fearless", "festive", "fiery", "flying", "fluffy", "fond", "frosty",
    "gallant", "gentle", "gilded", "gleaming", "glossy", "golden", "graceful", "grand",
    "happy", "hardy", "hearty", "helpful", "honest", "honored", "humble", "icy", "indigo",
    "jade", "jolly", "jovial", "keen", "kind", "lively", "loyal", "lucid", "lucky", "lunar",
    "majestic", "mellow", "merry", "mighty", "misty", "modest", "mossy", "nimble", "noble",
    "olive", "optimal", "patient", "peaceful", "plucky", "polished", "proud", "quick",
    "quiet", "radiant", "rapid", "rustic", "sandy", "scarlet", "serene", "sharp", "shiny",
    "silent", "silver", "sincere", "sleek", "smart", "snowy", "solar", "sparkling",
    "spirited", "splendid", "steady", "stellar", "sturdy", "sunny", "swift", "tidy",
    "tireless", "tranquil", "trusty", "upbeat", "valiant", "velvet", "vivid", "warm",
    "whimsical", "wise", "witty", "zealous", "zesty",
)

ANIMALS = (
    "aardvark", "albatross", "alpaca", "antelope", "armadillo", "badger", "barracuda",
    "beaver", "bison", "bobcat", "buffalo", "butterfly", "camel", "capybara", "cardinal",
    "caribou", "cat", "cheetah", "chinchilla", "cobra", "condor", "cormorant", "coyote",
    "crane", "cricket", "crow", "deer", "dingo", "dolphin", "donkey", "dove", "dragonfly",
    "duck", "eagle", "egret", "eland", "elk", "emu", "falcon", "ferret", "finch", "flamingo",
    "fox", "frog", "gazelle", "gecko", "gerbil", "gibbon", "giraffe", "gnu", "goose",
    "gopher", "gorilla", "grouse", "gull", "hamster", "hare", "hawk", "hedgehog", "heron",
    "hippo", "hornet", "horse", "hyena", "ibex", "ibis", "iguana", "impala", "jackal",
    "jaguar", "jay", "kangaroo", "kestrel", "kingfisher", "kiwi", "koala", "lemur",
    "leopard", "lion", "llama", "lobster", "lynx", "macaw", "magpie", "manatee", "marmot",
    "marten", "meerkat", "mink", "mole", "mongoose", "moose", "narwhal", "newt", "ocelot",
    "octopus", "okapi", "oriole", "osprey", "otter", "owl", "ox", "panda", "panther",
    "parrot", "pelican", "penguin", "pheasant", "pika", "platypus", "porcupine", "puffin",
    "puma", "quail", "quokka", "rabbit", "raccoon", "raven", "reindeer", "robin", "salmon",
    "seal", "shrew", "skunk", "sloth", "sparrow", "squid", "starling", "stork", "swan",
    "tapir", "tiger", "toucan", "turtle", "viper", "walrus", "weasel", "whale", "wolf",
    "wombat", "wren", "yak", "zebra",
)


def generate_run_name() -> str:
    """A random ``adjective-animal`` name."""
    return f"{random.choice(ADJECTIVES)}-{random.choice(ANIMALS)}"
