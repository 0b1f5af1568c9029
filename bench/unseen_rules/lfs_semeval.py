"""New keyword/regex LFs for semeval (9 relation classes),
written by an independent evaluator (session 58).

Each LF: (name, class_id, fn(rec) -> bool). rec has text, btw (text between the
two entity spans, lowercased), e1, e2 (entity strings lowercased, in text order:
first/second mention), full (lowercased text).
Classes: 0 Cause-Effect, 1 Component-Whole, 2 Content-Container, 3 Entity-Destination,
4 Entity-Origin, 5 Instrument-Agency, 6 Member-Collection, 7 Message-Topic,
8 Product-Producer
"""
import re


def prep(d):
    t = d["text"]
    s1, s2 = d["span1"], d["span2"]
    a, b = sorted([tuple(s1), tuple(s2)])
    return {
        "full": t.lower(),
        "btw": t[a[1]:b[0]].strip().lower(),
        "first": t[a[0]:a[1]].lower(),
        "second": t[b[0]:b[1]].lower(),
        "before": t[:a[0]].lower(),
        "after": t[b[1]:].lower(),
    }


def B(pat):
    r = re.compile(pat)
    return lambda x: bool(r.search(x["btw"]))


def F(pat):
    r = re.compile(pat)
    return lambda x: bool(r.search(x["full"]))


def W(words, which):
    s = set(words)
    return lambda x: any(w in s for w in re.findall(r"[a-z]+", x[which]))


CONTAINERS = ["box", "bottle", "bag", "jar", "suitcase", "basket", "container", "drawer",
              "envelope", "chest", "cabinet", "crate", "pot", "tank", "bucket", "can", "cup",
              "bowl", "package", "pocket", "purse", "trunk", "vessel", "carton", "safe", "sack",
              "barrel", "case", "tin", "wallet", "briefcase", "jug", "vase", "glass"]
COLLECTIONS = ["group", "flock", "team", "herd", "collection", "crowd", "army", "fleet",
               "committee", "audience", "family", "class", "pack", "swarm", "band", "choir",
               "crew", "gang", "colony", "orchestra", "council", "association", "society",
               "set", "series", "bunch", "school", "club", "forest", "library", "panel",
               "troop", "batch", "cluster", "party", "union", "alliance", "community", "staff",
               "jury", "congregation", "parliament", "federation", "network", "list",
               "array", "bundle", "convoy", "string", "flotilla", "litter", "pride", "gaggle",
               "horde", "mob", "battalion", "regiment", "squad", "tribe", "crowd", "assembly"]
MESSAGES = ["book", "article", "paper", "report", "lecture", "speech", "essay", "letter",
            "film", "documentary", "story", "poem", "song", "chapter", "review", "study",
            "survey", "thesis", "message", "statement", "note", "memo", "newsletter", "talk",
            "presentation", "novel", "journal", "editorial", "blog", "summary", "abstract",
            "guide", "manual", "dissertation", "column"]
PRODUCERS = ["company", "factory", "manufacturer", "farmer", "author", "artist", "writer",
             "baker", "composer", "painter", "designer", "engineer", "developer", "producer",
             "firm", "corporation", "studio", "plant", "brewery", "winery", "architect",
             "builder", "chef", "programmer", "sculptor", "poet", "inventor", "bees", "tree"]
AGENTS = ["man", "woman", "soldier", "surgeon", "doctor", "farmer", "worker", "driver",
          "player", "pilot", "police", "officer", "student", "teacher", "carpenter",
          "musician", "hunter", "fisherman", "gardener", "writer", "operator", "user",
          "technician", "chef", "cook", "assassin", "thief", "archer", "violinist"]
INSTRUMENTS = ["knife", "hammer", "gun", "rifle", "pen", "pencil", "camera", "computer",
               "scalpel", "telescope", "microscope", "sword", "saw", "axe", "brush", "bow",
               "tool", "tools", "needle", "violin", "piano", "spoon", "fork", "key", "wrench",
               "screwdriver", "drill", "stethoscope", "phone", "telephone", "laptop", "bat",
               "racket", "harpoon", "whip", "crane", "shovel", "ladder", "rope", "machine"]
CAUSES = ["fire", "explosion", "earthquake", "virus", "bacteria", "infection", "storm",
          "smoke", "stress", "accident", "flood", "war", "bomb", "heat", "radiation",
          "disease", "pollution", "injury", "crash", "blast"]
EFFECTS = ["damage", "pain", "death", "deaths", "injury", "injuries", "disease", "cancer",
           "fever", "anxiety", "illness", "flooding", "fire", "happiness", "laughter",
           "fatigue", "headache", "inflammation", "outbreak", "symptoms", "problems",
           "tears", "noise", "sound", "heat", "light", "vibration", "odor", "smell"]
PARTS = ["handle", "wheel", "door", "roof", "engine", "leg", "legs", "arm", "blade", "screen",
         "keyboard", "button", "wing", "wings", "tail", "page", "cover", "lid", "lens",
         "window", "wall", "floor", "seat", "head", "branch", "leaf", "leaves", "root",
         "trunk", "core", "shell", "frame", "motor", "battery", "chapter", "section",
         "string", "strings", "key", "keys", "room", "kitchen", "bathroom", "brain", "heart"]

LFS = [
    # Cause-Effect (0)
    ("ce_caused_by", 0, B(r"\bcaused by\b")),
    ("ce_cause_verb", 0, B(r"\b(cause[sd]?|causing)\b")),
    ("ce_result", 0, B(r"\b(result(ed|s)? in|resulting in|result(ed)? from)\b")),
    ("ce_trigger", 0, B(r"\b(trigger(ed|s)?|led to|leads? to|generated|provoked|induced)\b")),
    ("ce_from_btw", 0, B(r"^(from|comes from|came from)( the| a)?$")),
    ("ce_after", 0, B(r"^after( the| a)?$")),
    ("ce_effect_word", 0, W(EFFECTS, "second")),
    ("ce_cause_word", 0, W(CAUSES, "first")),
    ("ce_due_to", 0, F(r"\b(due to|because of|as a result of)\b")),
    # Component-Whole (1)
    ("cw_of_the", 1, B(r"^of (the|this|a|my|his|her|its|their)$")),
    ("cw_part_of", 1, B(r"\b(part|parts|component|components|piece) of\b")),
    ("cw_has_a", 1, B(r"^(has|had|have|with|includes|comprises|consists of)( a| an| the)?$")),
    ("cw_part_word", 1, W(PARTS, "first")),
    ("cw_in_my", 1, B(r"^in (my|the|his|her|our)$")),
    ("cw_consists", 1, F(r"\b(consists? of|composed of|made up of|equipped with)\b")),
    # Content-Container (2)
    ("cc_in_a", 2, B(r"^(was|were|is|are) (in|inside) (a|an|the)$")),
    ("cc_inside", 2, B(r"\binside\b")),
    ("cc_full_of", 2, B(r"\bfull of\b")),
    ("cc_contained", 2, B(r"\b(contain(s|ed)?|enclosed|locked|stored|packed|filled)\b")),
    ("cc_container_word", 2, W(CONTAINERS, "second")),
    ("cc_container_first", 2, W(CONTAINERS, "first")),
    ("cc_with", 2, B(r"^with( a| the)?$")),
    # Entity-Destination (3)
    ("ed_into", 3, B(r"\binto\b")),
    ("ed_to_the", 3, B(r"^(to|to the|onto the|onto)$")),
    ("ed_moved_to", 3, B(r"\b(sent|delivered|shipped|added|released|moved|transferred|"
                          r"put|placed|thrown|poured|migrated|donated|exported|imported) "
                          r"(in)?to\b")),
    ("ed_put_in", 3, B(r"\b(put|placed|dropped|inserted|poured) (in|inside)\b")),
    # Entity-Origin (4)
    ("eo_away_from", 4, B(r"\b(away from|out of|left|departed|departs|fled|escaped|emerged)\b")),
    ("eo_made_from", 4, B(r"\b(made from|distilled from|derived from|extracted from|"
                          r"originat\w* from|comes? from|came from)\b")),
    ("eo_from_the", 4, B(r"\bfrom (the|an?|outer|different|past)\b")),
    ("eo_farmed", 4, B(r"\b(farmed|harvested|grown|raised) for\b")),
    ("eo_arrived", 4, F(r"\b(arrived|imported|exported|travel+ed) from\b")),
    # Instrument-Agency (5)
    ("ia_uses", 5, B(r"\b(uses?|used|using|wields?|employs?|operates?|applied|"
                     r"manipulates?)\b")),
    ("ia_used_by", 5, B(r"\b(used by|operated by|wielded by)\b")),
    ("ia_instrument", 5, W(INSTRUMENTS, "first")),
    ("ia_agent", 5, W(AGENTS, "second")),
    ("ia_with_a", 5, B(r"^(with a|with his|with her|with the)$")),
    # Member-Collection (6)
    ("mc_of_plain", 6, B(r"^of$")),
    ("mc_of_adj", 6, B(r"^of [a-z]+$")),
    ("mc_collection_word", 6, W(COLLECTIONS, "first")),
    ("mc_collection_second", 6, W(COLLECTIONS, "second")),
    ("mc_member_of", 6, B(r"\b(member|members|joins?|joined) (of )?(the)?\b")),
    ("mc_including", 6, B(r"\b(including|such as)\b")),
    # Message-Topic (7)
    ("mt_about", 7, B(r"\b(about|on the subject of|regarding|concerning)\b")),
    ("mt_describes", 7, B(r"\b(describ\w+|explain\w*|discuss\w*|defin\w+|surveys?|"
                          r"examin\w+|analy[sz]\w+|summari[sz]\w+|states?|shows?|"
                          r"deals? with|focus\w* on|addresses|reports?|mentions?)\b")),
    ("mt_message_word", 7, W(MESSAGES, "first")),
    ("mt_message_second", 7, W(MESSAGES, "second")),
    ("mt_topic_full", 7, F(r"\b(theory|hypothesis|topic|issue|concept)\b")),
    # Product-Producer (8)
    ("pp_made_by", 8, B(r"\b(made|produced|created|built|developed|manufactured|written|"
                        r"designed|founded|invented|composed|painted|published) by\b")),
    ("pp_produces", 8, B(r"\b(produces?|manufactures?|makes|built|builds|wrote|writes|"
                         r"grows?|creates?|designs?|invented|brews?|bakes?)\b")),
    ("pp_producer_word", 8, W(PRODUCERS, "second")),
    ("pp_producer_first", 8, W(PRODUCERS, "first")),
    ("pp_possessive", 8, B(r"^'s$")),
    # broad, poor rules
    ("broad_of_any", 6, B(r"^of\b")),
    ("broad_in", 2, B(r"\bin\b")),
    ("broad_by", 8, B(r"\bby\b")),
    ("broad_the", 1, B(r"\bthe\b")),
]
