"""The demo campaign: the founding call of Courrier, as its authors wrote it.

It keeps its real target addresses, so it is created in sandbox mode
(real_delivery=False): its mail goes to the local mailbox unless staff
deliberately switch it to real delivery on a server with SMTP configured.

The call as it was published, word for word, is founding_call.txt beside this
file: the text an organiser would paste into the studio's "from a published
call" (campaigns/appeals.py), and the tests' example of one.
"""

from django.db import transaction

from courrier.accounts.models import Organisation
from courrier.campaigns.demo_people import PEOPLE
from courrier.campaigns.demo_translations import TRANSLATIONS
from courrier.campaigns.models import Campaign, CampaignText, DirectoryEntry, ModelLetter, Person, PersonUpdate, Target

SLUG = "kazakhstan-repression"

ARTICLE = """\
Alors que les prix des produits de première nécessité s’envolent au Kazakhstan, l’Etat Kazakh et le gouvernement dictactorial de Nazarbayev réprime durement toute protestation et réduit les droits démocratiques de la classe ouvrière et de la jeunesse, dont celui de manifester pacifiquement.

Ainsi, le 6 juillet dernier, des militants de gauche ont été arrêtés au cours d’une manifestation contre l’augmentation des prix durant laquelle les manifestants ont été nassés. Lors d’une des tentatives pour rompre la nasse policière, Valikhan Sultanov, Yrysbek Toktasyn et Dostiyarov Dauren ont subi des blessures selon les témoins sur place. A la suite de quoi, ils ont été arrêtés et détenu durant 10s jours sans pouvoir voir de médecin. Aujoourd’hui, Valikhan est dans un établissement de soins avec de sévères blessures à la tête !

La Gauche révolutionnaire, section française du Comité pour une Internationale ouvrière, proteste contre cette répression du mouvement ouvrier, que l’Etat kazakh utilise systématiquement depuis de longues années. Nous soutenons la classe ouvrière et la jeunesse kazakhe, les militants blessés et emprisonnés, ainsi que l’organisation Red Yurt (Yourte Rouge).

Voici, le courrier que nous avons adressé à l’Ambassade du Kazakhstan en France. Nous vous appelons à en faire autant en votre nom propre ou au nom de votre organisation syndicale, politique ou associative en envoyant une lettre de protestation à l’adresse mail suivante : paris@mfa.kz

Et une copie à Red Yurt : chakmonro@ya.ru
"""

# The founding letter, word for word (its misspelled names included: the
# letter checker is expected to flag them). Only what belonged to its first
# signatory became placeholders: who demands, the place and date, the signature.
LETTER_FR = """\
Monsieur l’Ambassadeur du Kazakhstan en France,

Nous vous écrivons afin de protester contre la répression policière qui s’est abattue contre une manifestation légitime à Almaty le 6 juillet dernier et contre les arrestations de manifestants qui s’en sont suivis. Nous avons été informés que les manifestants ont été « nassés » durant plus de 12 heures dans des conditions particulièrement difficiles avec plus de 30°c, sans accès à des toilettes ou à l’eau.

Bien évidemment, dans ces conditions, les manifestants ont essayé de rompre la nasse policière pour avoir accès à de l’eau. Nous avons reçu des témoignages faisant état d’attaques brutales de la part des unités de sécurité « SOBR » contre ceux qui essayaient de fuirent la nasse policière. Ils furent arrêtés et jetés à l’arrière des camions de la police. Trois parmi eux, se nomment Valikhan Sultanov, Yrbsek Tottasyn et Dostiyarov Dauren. Nous sommes extrêmement préoccupés pour leur bien-être. Valikha Sultanov a été particulièrement blessé par la police.

Suite aux arrestations et aux procès en ligne, les manifestants se sont vus condamnés à 10 jours de prisons, sans que nous sachions ni s’ils vont bien ni même où ils sont détenus. L’un des témoignages que nous avons recueilli suggère que Valikhan Sultanov est sérieusement blessé et se trouverait dans un établissement médical à Almaty.

Le droit de manifester est un droit démocratique fondamental. Encore une fois, l’Etat kazakh est intervenu pour arrêter une protestation légitime et a essayé d’intimider ceux qui s’opposent au gouvernement. Les actions des forces de sécurité le 6 juillet dernier confirment le point de vue du mouvement ouvrier international, à savoir que sous le vernis démocratique se cache une véritable dictature au Kazakhstan.

{personal_sentence}

{signatory} exige que tous les manifestants soient immédiatement relâchés et la garanti du droit à manifester de la part du gouvernement.

{place_and_date}

{signature}
"""


@transaction.atomic
def load_demo() -> tuple[Campaign, bool]:
    """Create the demo campaign if it is not there; if it is, only add the parts a newer version ships."""
    existing = Campaign.objects.filter(slug=SLUG).first()
    if existing:
        add_translations_and_people(existing)
        return existing, False
    organisation, _ = Organisation.objects.get_or_create(
        name="Gauche révolutionnaire", defaults={"website": "", "contact_email": ""}
    )
    campaign = Campaign.objects.create(
        organisation=organisation,
        slug=SLUG,
        language="fr",
        title="Répression du mouvement social au Kazakhstan",
        summary=(
            "Le 6 juillet 2021 à Almaty, des manifestants contre la hausse des prix ont été nassés, "
            "blessés et emprisonnés. Écrivez à l’Ambassade du Kazakhstan en France pour exiger leur libération."
        ),
        article=ARTICLE,
        photo_static="img/demo-illustration.svg",
        photo_alt=(
            "Dessin : une manifestation dans une rue d’Almaty en été, des manifestants tiennent une banderole "
            "et des pancartes, les montagnes au fond."
        ),
        photo_caption="Un camarade de Red Yurt manifestant au Kazakhstan, avant son arrestation",
        photo_credit="Illustration réalisée pour la démonstration, ce n’est pas la photo d’origine.",
        status=Campaign.Status.LIVE,
        goal=1000,
        real_delivery=False,
    )
    Target.objects.create(
        campaign=campaign,
        role=Target.Role.TO,
        name="Ambassade du Kazakhstan en France",
        email="paris@mfa.kz",
        language="fr",
    )
    Target.objects.create(campaign=campaign, role=Target.Role.CC, name="Red Yurt", email="chakmonro@ya.ru")
    ModelLetter.objects.create(
        campaign=campaign,
        language="fr",
        subject="Protestation contre la répression de la manifestation du 6 juillet à Almaty",
        body=LETTER_FR,
    )
    for language, text in TRANSLATIONS.items():
        ModelLetter.objects.create(
            campaign=campaign, language=language, subject=text["subject"], body=text["letter"], is_translation=True
        )
    add_translations_and_people(campaign)
    return campaign, True


# The target directory: the embassy of Kazakhstan in each supporter's country. The demo ships the entry
# of the founding letter and leaves "supporters pick their country" off, so that its letters go to its
# To target as they always did; an organiser switches it on to try the directory.
DIRECTORY = [
    {
        "country": "FR",
        "country_name": "France",
        "name": "Ambassade du Kazakhstan en France",
        "email": "paris@mfa.kz",
        "language": "fr",
    },
]


def add_translations_and_people(campaign: Campaign) -> None:
    """The page in English, Russian and Kazakh, the case file and the directory; an organiser's edits are left alone."""
    if not campaign.directory.exists():
        DirectoryEntry.objects.bulk_create(DirectoryEntry(campaign=campaign, **entry) for entry in DIRECTORY)
    if not campaign.texts.exists():
        for language, text in TRANSLATIONS.items():
            CampaignText.objects.create(
                campaign=campaign,
                language=language,
                title=text["title"],
                summary=text["summary"],
                article=text["article"],
                photo_alt=text["photo_alt"],
                photo_caption=text["photo_caption"],
                photo_credit=text["photo_credit"],
                translation_note=text["translation_note"],
            )
    if not campaign.people.exists():
        for position, entry in enumerate(PEOPLE):
            person = Person.objects.create(
                campaign=campaign,
                name=entry["name"],
                other_spellings=entry["other_spellings"],
                status=entry["status"],
                position=position,
            )
            PersonUpdate.objects.bulk_create(
                PersonUpdate(person=person, date=date, language=language, text=text)
                for date, texts in entry["updates"]
                for language, text in texts.items()
            )
