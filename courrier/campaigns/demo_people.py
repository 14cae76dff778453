# ruff: noqa: E501
"""The case file of the demo campaign: the three activists the founding document names.

Each name is spelled right, as the article spells it, with its other correct
spellings (the other word order, Cyrillic). The letter's slips ("Valikha
Sultanov", "Yrbsek Tottasyn") are deliberately not among them: the letter
checker compares the letters with the case file, so it flags them.

The timeline says only what the founding document says, dated as it dates it
(the protest of 6 July 2021, the letter of 13 July 2021).
"""

import datetime

PROTEST = datetime.date(2021, 7, 6)
LETTER = datetime.date(2021, 7, 13)

PEOPLE = [
    {
        "name": "Valikhan Sultanov",
        "other_spellings": "Валихан Султанов",
        "status": "injured",
        "updates": [
            (
                PROTEST,
                {
                    "fr": "Blessé par la police en tentant de rompre la nasse lors de la manifestation contre la hausse des prix à Almaty, puis arrêté.",
                    "en": "Injured by the police while trying to break out of the kettle at the protest against rising prices in Almaty, then arrested.",
                    "ru": "Ранен полицией при попытке вырваться из оцепления на акции протеста против роста цен в Алматы, затем задержан.",
                    "kk": "Алматыдағы баға өсіміне қарсы шеруде полиция қоршауын бұзып шығуға тырысқанда полиция жарақаттады, кейін ұсталды.",
                },
            ),
            (
                LETTER,
                {
                    "fr": "Selon un témoignage, sérieusement blessé à la tête et soigné dans un établissement médical à Almaty.",
                    "en": "According to a witness, seriously injured in the head and treated in a medical facility in Almaty.",
                    "ru": "По свидетельству очевидца, получил серьёзную травму головы и находится в медицинском учреждении в Алматы.",
                    "kk": "Куәгердің айтуынша, басынан ауыр жарақат алып, Алматыдағы емдеу мекемесінде жатыр.",
                },
            ),
        ],
    },
    {
        "name": "Yrysbek Toktasyn",
        "other_spellings": "Ырысбек Токтасын",
        "status": "sentenced",
        "updates": [
            (
                PROTEST,
                {
                    "fr": "Blessé selon les témoins sur place, arrêté, puis condamné lors d’un procès en ligne à 10 jours de prison, sans pouvoir voir de médecin.",
                    "en": "Injured according to witnesses at the scene, arrested, then sentenced in an online trial to 10 days in prison, without seeing a doctor.",
                    "ru": "По словам очевидцев, ранен, задержан, затем на онлайн-суде приговорён к 10 суткам ареста без доступа к врачу.",
                    "kk": "Куәгерлердің айтуынша, жарақат алып, ұсталды, кейін онлайн сотта дәрігерге көрсетілмей 10 тәулікке қамалды.",
                },
            ),
        ],
    },
    {
        "name": "Dostiyarov Dauren",
        "other_spellings": "Dauren Dostiyarov, Даурен Достияров",
        "status": "sentenced",
        "updates": [
            (
                PROTEST,
                {
                    "fr": "Blessé selon les témoins sur place, arrêté, puis condamné lors d’un procès en ligne à 10 jours de prison, sans pouvoir voir de médecin.",
                    "en": "Injured according to witnesses at the scene, arrested, then sentenced in an online trial to 10 days in prison, without seeing a doctor.",
                    "ru": "По словам очевидцев, ранен, задержан, затем на онлайн-суде приговорён к 10 суткам ареста без доступа к врачу.",
                    "kk": "Куәгерлердің айтуынша, жарақат алып, ұсталды, кейін онлайн сотта дәрігерге көрсетілмей 10 тәулікке қамалды.",
                },
            ),
        ],
    },
]
