//! Clinical rules §5: relative contraindications.

use super::*;

#[test]
fn each_contraindication_group_adds_a_graded_warning() {
    const CONTROL: &str = "ketamine raises blood pressure and heart rate: a relative contraindication when poorly controlled; control it and monitor closely";
    for (c, display, group, grade, advice) in [
        ("I50.22", "Chronic systolic heart failure", "Cardiovascular disease", "Grade B", CONTROL),
        ("I21.4", "NSTEMI", "Cardiovascular disease", "Grade B", CONTROL),
        ("O09.90", "Supervision of high risk pregnancy", "Pregnancy", "Grade B", "avoid"),
        ("Z33.1", "Pregnant state", "Pregnancy", "Grade B", "avoid"),
        ("F20.9", "Schizophrenia", "Active psychosis", "Grade B", "avoid"),
        ("K74.60", "Cirrhosis of liver", "Severe hepatic disease", "Grade C", "hepatotoxicity: avoid"),
        ("H40.11X0", "Primary open-angle glaucoma", "Raised intracranial or intraocular pressure", "Grade C", "avoid"),
        (
            "F11.20",
            "Opioid dependence",
            "Active substance use disorder",
            "Grade C",
            "abuse and tolerance: close monitoring is mandatory",
        ),
    ] {
        let cards = Case::sign().conditions(vec![pdn(), condition(ICD, c, display)]).cards();
        assert_eq!(topics(&cards), ["ketamine-step-therapy", "ketamine-contraindication"], "{c}");
        let card = &cards[1];
        assert_eq!(card["indicator"], "warning");
        // The summary names the category, never a condition display (which could be cut short).
        assert_eq!(
            card["summary"],
            format!("Ketamine: relative contraindications on record: {}", group.to_lowercase())
        );
        let line = format!("- **{group}** ({grade}): {display} — {advice}");
        assert!(card["detail"].as_str().unwrap().contains(&line), "{c}: {}", card["detail"]);
        assert!(!card["detail"].as_str().unwrap().contains("oorly controlled cardiovascular"), "{}", card["detail"]);
        // The source of these contraindications is the ASRA consensus, not the meta-analysis.
        assert_eq!(card["source"]["url"], "https://doi.org/10.1097/AAP.0000000000000808");
        assert!(card["source"]["label"].as_str().unwrap().starts_with("Cohen 2018"));
    }
}

#[test]
fn a_summary_names_every_category_and_never_cuts_a_condition_short() {
    let ckd = "Hypertensive heart and chronic kidney disease with heart failure and with stage 5 chronic kidney disease, or end stage renal disease";
    let cards = Case::sign()
        .conditions(vec![pdn(), condition(ICD, "I13.2", ckd), condition(ICD, "Z33.1", "Pregnant state")])
        .cards();
    assert_eq!(
        cards[1]["summary"],
        "Ketamine: relative contraindications on record: cardiovascular disease and pregnancy"
    );
    assert!(cards[1]["detail"].as_str().unwrap().contains(ckd), "the detail gives the whole display");
}

#[test]
fn substance_use_in_remission_or_unspecified_use_is_not_a_contraindication() {
    let cards = Case::sign().conditions(vec![pdn(), condition(ICD, "F11.90", "Opioid use, unspecified")]).cards();
    assert_eq!(topics(&cards), ["ketamine-step-therapy"]);
}

#[test]
fn contraindication_warns_even_when_the_order_is_backed() {
    let cards = Case::sign()
        .all_first_line_failed()
        .conditions(vec![pdn(), condition(ICD, "F20.0", "Paranoid schizophrenia")])
        .cards();
    assert_eq!(topics(&cards), ["ketamine-contraindication"]);
}

#[test]
fn contraindication_is_silent_when_the_guideline_does_not_apply() {
    let cards = Case::sign().conditions(vec![condition(ICD, "I50.22", "Heart failure")]).cards();
    assert!(cards.is_empty());
}

// ---------- §6 Data rules ----------

#[test]
fn a_null_prefetch_key_is_a_known_empty_result() {
    let card = Case::sign().step_card();
    assert!(class_line(&card, "SNRI").contains("not documented"));
}

#[test]
fn an_unreadable_history_resource_is_skipped_not_fatal() {
    let broken = json!({ "resourceType": "MedicationRequest", "id": "bad", "status": "stopped", "dosageInstruction": "twice daily",
                         "medicationCodeableConcept": code(RX, "72625", "duloxetine") });
    let card = Case::sign().history(vec![broken, gabapentin_failed()]).step_card();
    assert!(class_line(&card, "Gabapentinoid").contains("failed"));
    assert!(class_line(&card, "SNRI").contains("not documented"));
}

#[test]
fn a_problem_list_in_snomed_ct_gives_the_contraindication_card_too() {
    for (c, display, group) in [
        ("88805009", "Chronic congestive heart failure", "Cardiovascular disease"),
        ("401314000", "Acute non-ST segment elevation myocardial infarction", "Cardiovascular disease"),
        ("72892002", "Normal pregnancy", "Pregnancy"),
        ("58214004", "Schizophrenia", "Active psychosis"),
        ("19943007", "Cirrhosis of liver", "Severe hepatic disease"),
        ("23986001", "Glaucoma", "Raised intracranial or intraocular pressure"),
        ("6525002", "Dependent drug abuse", "Active substance use disorder"),
    ] {
        let cards = Case::sign().conditions(vec![pdn(), condition(SCT, c, display)]).cards();
        assert_eq!(topics(&cards), ["ketamine-step-therapy", "ketamine-contraindication"], "{c}");
        assert!(cards[1]["detail"].as_str().unwrap().contains(&format!("**{group}**")), "{c}: {}", cards[1]["detail"]);
    }
}

#[test]
fn a_history_of_myocardial_infarction_is_not_active_cardiovascular_disease() {
    let cards =
        Case::sign().conditions(vec![pdn(), condition(SCT, "399211009", "History of myocardial infarction")]).cards();
    assert_eq!(topics(&cards), ["ketamine-step-therapy"]);
}

#[test]
fn the_revision_2_icd_10_cm_additions_are_contraindications() {
    for (c, display) in [
        ("I22.1", "Subsequent non-ST elevation myocardial infarction"),
        ("I11.0", "Hypertensive heart disease with heart failure"),
        ("I13.2", "Hypertensive heart and chronic kidney disease with heart failure and ESRD"),
        ("Z34.00", "Encounter for supervision of normal first pregnancy, unspecified trimester"),
        ("F22", "Delusional disorders"),
        ("F25.0", "Schizoaffective disorder, bipolar type"),
        ("F32.3", "Major depressive disorder, single episode, severe with psychotic features"),
        ("K70.40", "Alcoholic hepatic failure without coma"),
    ] {
        let cards = Case::sign().conditions(vec![pdn(), condition(ICD, c, display)]).cards();
        assert_eq!(topics(&cards), ["ketamine-step-therapy", "ketamine-contraindication"], "{c}");
    }
}

#[test]
fn nicotine_dependence_and_substance_use_in_remission_are_not_active_substance_use_disorder() {
    for (c, display) in [
        ("F17.210", "Nicotine dependence, cigarettes, uncomplicated"),
        ("F11.21", "Opioid dependence, in remission"),
        ("F10.11", "Alcohol abuse, in remission"),
    ] {
        let cards = Case::sign().conditions(vec![pdn(), condition(ICD, c, display)]).cards();
        assert_eq!(topics(&cards), ["ketamine-step-therapy"], "{c}");
    }
    let active =
        Case::sign().conditions(vec![pdn(), condition(ICD, "F10.20", "Alcohol dependence, uncomplicated")]).cards();
    assert_eq!(topics(&active), ["ketamine-step-therapy", "ketamine-contraindication"]);
}
