"""New keyword/regex LFs for chemprot (10 classes),
written by an independent evaluator (session 58).
0 Part of, 1 Regulator, 2 Upregulator, 3 Downregulator, 4 Agonist, 5 Antagonist,
6 Modulator, 7 Cofactor, 8 Substrate/Product, 9 NOT
"""
import re


def prep(d):
    t = d["text"]
    a, b = sorted([tuple(d["span1"]), tuple(d["span2"])])
    lo = t.lower()
    return {"full": lo, "btw": lo[a[1]:b[0]],
            "win": lo[max(0, a[0] - 40):min(len(lo), b[1] + 40)],
            "e1": d["entity1"].lower(), "e2": d["entity2"].lower()}


def B(pat):
    r = re.compile(pat)
    return lambda x: bool(r.search(x["btw"]))


def Wn(pat):
    r = re.compile(pat)
    return lambda x: bool(r.search(x["win"]))


def F(pat):
    r = re.compile(pat)
    return lambda x: bool(r.search(x["full"]))


def E(pat):
    r = re.compile(pat)
    return lambda x: bool(r.search(x["e1"]) or r.search(x["e2"]))


LFS = [
    # Part of (0)
    ("po_terminus", 0, B(r"(terminus|terminal|termini|domain|residue|subunit|region|segment|"
                         r"fragment|motif|loop|site of)")),
    ("po_amino_acid", 0, F(r"amino acid")),
    ("po_entity_aa", 0, E(r"^(ser|thr|tyr|lys|cys|his|arg|asp|glu|gly|ala|leu|val|met|phe|trp|"
                          r"pro|asn|gln|ile|serine|threonine|tyrosine|lysine|cysteine|histidine|"
                          r"arginine|glutamate|aspartate)(-?\d+)?$")),
    ("po_phosphoryl", 0, Wn(r"phosphorylat|mutat|\b[a-z]\d{2,4}[a-z]\b")),
    ("po_of_only", 0, B(r"^\s*of\s*(the)?\s*$")),
    # Regulator (1)
    ("rg_bind", 1, B(r"\bbind(s|ing)?\b|\bbound\b")),
    ("rg_affinity", 1, Wn(r"affinit|\bk\(?i\)?\b|\bic50\b|\bligand")),
    ("rg_target", 1, B(r"\btarget")),
    ("rg_effect_on", 1, B(r"\b(affect|alter|regulat|influenc|mediat)")),
    ("rg_selective", 1, B(r"\bselective\b")),
    ("rg_interact", 1, B(r"\binteract")),
    ("rg_with", 1, B(r"^\s*with\s*$")),
    # Upregulator (2)
    ("up_increase", 2, B(r"\b(increas|elevat|enhanc|augment|potentiat|upregulat|up-regulat|"
                         r"stimulat)")),
    ("up_activat", 2, B(r"\b(activat|activator)")),
    ("up_induc", 2, B(r"\binduc")),
    ("up_expression", 2, Wn(r"\b(induced|increased|enhanced) (the )?(expression|activity|level)")),
    ("up_win_increase", 2, Wn(r"\b(increas|enhanc|stimulat|activat)")),
    ("up_restor", 2, B(r"\b(restor|promot|upregul|overexpress)")),
    # Downregulator (3)
    ("dn_inhibit_btw", 3, B(r"\binhibit")),
    ("dn_inhibitor_win", 3, Wn(r"\binhibitor")),
    ("dn_decrease", 3, B(r"\b(decreas|reduc|suppress|attenuat|diminish|downregulat|"
                         r"down-regulat|lower|abolish|prevent)")),
    ("dn_block", 3, B(r"\b(block|blockade|blocker)")),
    ("dn_full_inhibit", 3, F(r"\binhibit")),
    ("dn_win_reduce", 3, Wn(r"\b(decreas|reduc|suppress|attenuat)")),
    ("dn_knockdown", 3, Wn(r"knock-?down|silenc|deplet")),
    # Agonist (4)
    ("ag_agonist_btw", 4, B(r"(?<!ant)agonist")),
    ("ag_agonist_win", 4, Wn(r"(?<!ant)agonist")),
    ("ag_full_agonist", 4, F(r"(full|partial|inverse) agonist")),
    ("ag_entity", 4, E(r"(?<!ant)agonist")),
    # Antagonist (5)
    ("an_antagonist_btw", 5, B(r"antagonis")),
    ("an_antagonist_win", 5, Wn(r"antagonis")),
    ("an_blocker", 5, Wn(r"\b(blocker|receptor blocker)")),
    ("an_entity", 5, E(r"antagonis")),
    # Modulator (6)
    ("md_allosteric", 6, Wn(r"allosteric|modulat")),
    ("md_pam", 6, Wn(r"\bpam\b|\bnam\b")),
    # Cofactor (7)
    ("cf_cofactor", 7, Wn(r"cofactor|co-factor|coenzyme")),
    # Substrate/Product (8)
    ("sp_substrate", 8, Wn(r"substrate")),
    ("sp_metabol", 8, B(r"metaboli[sz]|metabolite")),
    ("sp_catalyz", 8, Wn(r"cataly[sz]|hydroly[sz]|convert|conversion|synthesi[sz]|"
                         r"oxidi[sz]|transport")),
    ("sp_produce", 8, B(r"\b(produc|generat|form(s|ed|ation)|derived)")),
    ("sp_enzyme", 8, E(r"(ase|ases)$")),
    ("sp_cyp", 8, E(r"^cyp\d|cytochrome p450")),
    ("sp_uptake", 8, Wn(r"uptake|efflux|transporter")),
    # NOT (9)
    ("not_did_not", 9, B(r"\b(did not|does not|do not|not|no|without|neither|nor)\b")),
    ("not_no_effect", 9, Wn(r"no (significant )?(effect|change|influence)|unaffected|"
                            r"independent|not (alter|affect|change)")),
    ("not_full_not", 9, F(r"\bnot\b")),
    # broad, poor
    ("broad_and", 1, B(r"^\s*(,|and|or)\s*$")),
    ("broad_receptor", 1, E(r"receptor")),
    ("broad_expression", 2, F(r"express")),
    ("broad_activity", 3, F(r"activit")),
    ("broad_effect", 3, F(r"\beffect")),
    ("broad_enzyme_full", 8, F(r"enzyme")),
]
