"""Second, independent-style semeval rule set (session 58): a 'lazier' expert who mostly
writes whole-sentence keywords and entity word lists, with one broad rule per class.
0 Cause-Effect, 1 Component-Whole, 2 Content-Container, 3 Entity-Destination,
4 Entity-Origin, 5 Instrument-Agency, 6 Member-Collection, 7 Message-Topic, 8 Product-Producer
"""
from lfs_semeval import (
    AGENTS,
    CAUSES,
    COLLECTIONS,
    CONTAINERS,
    EFFECTS,
    INSTRUMENTS,
    MESSAGES,
    PARTS,
    PRODUCERS,
    B,
    F,
    W,
)
from lfs_semeval import prep as prep  # the records this set's rules read: semeval's

LFS = [
    ("ce_cause_any", 0, F(r"\bcaus")),
    ("ce_results", 0, F(r"\bresult")),
    ("ce_words2", 0, W(EFFECTS, "second")),
    ("ce_words1", 0, W(CAUSES, "first")),
    ("ce_from_sent", 0, F(r"\bfrom\b")),              # broad
    ("cw_part", 1, F(r"\bpart\b|\bparts\b|\bcomponent")),
    ("cw_parts1", 1, W(PARTS, "first")),
    ("cw_parts2", 1, W(PARTS, "second")),
    ("cw_of_the", 1, B(r"^of the$")),
    ("cw_has", 1, F(r"\bhas\b|\bhave\b")),            # broad
    ("cc_cont2", 2, W(CONTAINERS, "second")),
    ("cc_cont1", 2, W(CONTAINERS, "first")),
    ("cc_inside", 2, F(r"\binside\b|\bcontain")),
    ("cc_full", 2, F(r"\bfull of\b")),
    ("cc_was_in", 2, F(r"\bwas in\b|\bwere in\b")),
    ("cc_in_sent", 2, F(r"\bin (a|an)\b")),           # broad
    ("ed_into", 3, F(r"\binto\b")),
    ("ed_sent", 3, F(r"\b(sent|shipped|delivered|released|added|moved|put|placed)\b")),
    ("ed_to_the", 3, F(r"\bto the\b")),               # broad
    ("eo_from_the", 4, B(r"\bfrom\b")),
    ("eo_left", 4, F(r"\b(left|departed|away|out of|escaped|fled|derived|made from)\b")),
    ("eo_origin", 4, F(r"\borigin")),
    ("ia_use", 5, F(r"\bus(e|es|ed|ing)\b")),
    ("ia_instr", 5, W(INSTRUMENTS, "first")),
    ("ia_agent", 5, W(AGENTS, "second")),
    ("ia_with", 5, F(r"\bwith\b")),                   # broad
    ("mc_coll1", 6, W(COLLECTIONS, "first")),
    ("mc_coll2", 6, W(COLLECTIONS, "second")),
    ("mc_of", 6, B(r"^of$")),
    ("mc_of_sent", 6, F(r"\bof\b")),                  # broad
    ("mt_msg1", 7, W(MESSAGES, "first")),
    ("mt_msg2", 7, W(MESSAGES, "second")),
    ("mt_verbs", 7, F(r"\b(describ|explain|discuss|about|topic|review|analy)")),
    ("pp_by", 8, F(r"\b(made|produced|built|created|written|manufactured|developed) by\b")),
    ("pp_prod2", 8, W(PRODUCERS, "second")),
    ("pp_prod1", 8, W(PRODUCERS, "first")),
    ("pp_makes", 8, F(r"\b(makes|produces|manufactur|factory|company)")),   # broad-ish
]
