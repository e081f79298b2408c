"""The 23 OHSUMED categories C01..C23: codes, MeSH names and short descriptions.

OHSUMED as used by Joachims (1998) and in the TextGCN ``ohsumed`` benchmark
labels MEDLINE abstracts of 1991 (A. Moschitti's distribution: the
cardiovascular-diseases abstracts, category file
``First-Level-Categories-of-Cardiovascular-Disease.txt``) with 23 categories.
They are the 23 first-level headings of the 1991 MeSH tree C ("Diseases"),
C01 to C23; the names below are those headings as they appear in the OHSUMED
collection's category list.

The codes are checked against the copies under ``../shared/data/ohsumed``: the
MEKA ARFF (``meka_arff/OHSUMED-F.arff``) declares exactly the binary label
attributes C01..C23 (in a shuffled order), and the TextGCN copy
(``text_gcn_single_23``) has one folder per code, C01..C23, in Joachims'
``training|test/Cxx/<docid>`` layout. Neither copy carries the names.

``description`` is a short scope note for each category, written for this
project from general medical knowledge (it is not MeSH's own scope note). It is
the text embedded when MTLV clustering is asked to use label descriptions
instead of label names (``grouping_methods.embedding.text: description``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OhsumedCategory:
    """One OHSUMED label: its code (``C01``), MeSH tree-C name and a short description."""

    code: str
    name: str
    description: str


_CATEGORIES: tuple[tuple[str, str, str], ...] = (
    (
        "C01",
        "Bacterial Infections and Mycoses",
        "Infections caused by bacteria or fungi in any organ, such as tuberculosis, "
        "bacterial sepsis and meningitis, streptococcal and staphylococcal infections, and candidiasis.",
    ),
    (
        "C02",
        "Virus Diseases",
        "Illnesses caused by viruses, such as HIV infection and AIDS, viral hepatitis, herpes, "
        "influenza and cytomegalovirus infection.",
    ),
    (
        "C03",
        "Parasitic Diseases",
        "Infections and infestations by parasites: protozoa such as the agents of malaria and "
        "toxoplasmosis, parasitic worms, and external parasites such as lice and mites.",
    ),
    (
        "C04",
        "Neoplasms",
        "Abnormal new growths of tissue, benign or malignant: cancers, carcinomas, sarcomas, "
        "leukemias, lymphomas and other tumors, including their metastatic spread.",
    ),
    (
        "C05",
        "Musculoskeletal Diseases",
        "Disorders of the bones, joints, cartilage, muscles and tendons, such as arthritis, "
        "osteoporosis, spinal diseases, bone deformities and muscular disorders.",
    ),
    (
        "C06",
        "Digestive System Diseases",
        "Diseases of the gastrointestinal tract from the esophagus to the anus and of the liver, "
        "gallbladder, bile ducts and pancreas, such as peptic ulcer, inflammatory bowel disease, "
        "cirrhosis and pancreatitis.",
    ),
    (
        "C07",
        "Stomatognathic Diseases",
        "Diseases of the mouth, teeth, jaws, salivary glands and temporomandibular joint, "
        "such as dental caries, periodontal disease and oral lesions.",
    ),
    (
        "C08",
        "Respiratory Tract Diseases",
        "Diseases of the airways and lungs, such as asthma, chronic obstructive pulmonary disease, "
        "pneumonia, pulmonary embolism and respiratory failure.",
    ),
    (
        "C09",
        "Otorhinolaryngologic Diseases",
        "Diseases of the ear, nose, paranasal sinuses, pharynx and larynx, such as hearing loss, "
        "otitis media, sinusitis and disorders of the voice.",
    ),
    (
        "C10",
        "Nervous System Diseases",
        "Disorders of the brain, spinal cord and peripheral nerves, such as stroke and other "
        "cerebrovascular disorders, epilepsy, dementia, Parkinson disease, headache and neuropathies.",
    ),
    (
        "C11",
        "Eye Diseases",
        "Diseases of the eye and its surrounding structures, such as cataract, glaucoma, "
        "retinal diseases and disorders of vision.",
    ),
    (
        "C12",
        "Urologic and Male Genital Diseases",
        "Diseases of the kidneys, ureters, bladder and urethra and of the male reproductive organs, "
        "such as kidney failure, urinary tract infection, urinary stones and prostate disease.",
    ),
    (
        "C13",
        "Female Genital Diseases and Pregnancy Complications",
        "Diseases of the female reproductive organs and complications of pregnancy, labor and the "
        "period after childbirth, such as endometriosis, infertility, pre-eclampsia, ectopic pregnancy "
        "and preterm labor.",
    ),
    (
        "C14",
        "Cardiovascular Diseases",
        "Diseases of the heart and blood vessels, such as coronary artery disease, myocardial "
        "infarction, heart failure, arrhythmias, hypertension, atherosclerosis and thrombosis.",
    ),
    (
        "C15",
        "Hemic and Lymphatic Diseases",
        "Disorders of the blood, the blood-forming organs and the lymphatic system, such as anemias, "
        "bleeding and clotting disorders, and diseases of the lymph nodes and spleen.",
    ),
    (
        "C16",
        "Neonatal Diseases and Abnormalities",
        "Abnormalities present at birth, whether inherited, chromosomal or developmental, and diseases "
        "of the newborn infant, such as congenital heart defects, inborn errors of metabolism and "
        "neonatal respiratory distress.",
    ),
    (
        "C17",
        "Skin and Connective Tissue Diseases",
        "Diseases of the skin, hair and nails and disorders of connective tissue, such as dermatitis, "
        "psoriasis, skin ulcers, lupus erythematosus and scleroderma.",
    ),
    (
        "C18",
        "Nutritional and Metabolic Diseases",
        "Disorders of nutrition, from deficiency to excess, and of the body's metabolism, such as "
        "malnutrition, vitamin deficiencies, obesity, disorders of lipid metabolism and imbalances of "
        "water, electrolytes and acid-base balance.",
    ),
    (
        "C19",
        "Endocrine Diseases",
        "Diseases of the hormone-producing glands, including the thyroid, adrenal, pituitary and "
        "parathyroid glands and the pancreatic islets, such as diabetes mellitus and hyperthyroidism.",
    ),
    (
        "C20",
        "Immunologic Diseases",
        "Disorders of the immune system: immune deficiencies, allergies and other hypersensitivity "
        "reactions, autoimmune diseases, and rejection of transplanted organs.",
    ),
    (
        "C21",
        "Disorders of Environmental Origin",
        "Harm caused by external agents and circumstances, such as wounds and injuries, burns, "
        "poisoning and drug toxicity, radiation injury, and occupational diseases.",
    ),
    (
        "C22",
        "Animal Diseases",
        "Diseases of non-human animals, such as illnesses of livestock, pets and laboratory animals, "
        "including infections that can pass between animals and humans.",
    ),
    (
        "C23",
        "Pathological Conditions, Signs and Symptoms",
        "General disease processes and clinical findings that are not specific to one organ system, "
        "such as inflammation, ischemia, necrosis, shock, fever, pain, edema and complications after "
        "surgery.",
    ),
)

OHSUMED_CATEGORIES: dict[str, OhsumedCategory] = {
    code: OhsumedCategory(code=code, name=name, description=description) for code, name, description in _CATEGORIES
}
"""The 23 OHSUMED categories by code, in code order C01..C23."""

__all__ = ["OHSUMED_CATEGORIES", "OhsumedCategory"]
