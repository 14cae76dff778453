# ruff: noqa: E501
"""Faithful translations of the demo campaign (French original in demo.py).

The people's names are kept exactly as the French letter spells them, in Latin
letters, misspellings included, so the letter checker sees the same names in
every language. The letter placeholders are the same as in LETTER_FR.
"""

TRANSLATIONS = {
    "en": {
        "title": "Repression of the social movement in Kazakhstan",
        "summary": (
            "On 6 July 2021 in Almaty, protesters against rising prices were kettled, "
            "injured and jailed. Write to the Embassy of Kazakhstan in France to demand their release."
        ),
        "article": """\
While the prices of basic necessities are soaring in Kazakhstan, the Kazakh state and Nazarbayev’s dictatorial government are harshly repressing every protest and curtailing the democratic rights of the working class and young people, including the right to demonstrate peacefully.

On 6 July, left-wing activists were arrested during a demonstration against rising prices, in the course of which the protesters were kettled. During one of the attempts to break out of the police kettle, Valikhan Sultanov, Yrysbek Toktasyn and Dostiyarov Dauren were injured, according to witnesses at the scene. They were then arrested and held for 10 days without being allowed to see a doctor. Today, Valikhan is in a care facility with severe head injuries!

Gauche révolutionnaire (Revolutionary Left), the French section of the Committee for a Workers’ International, protests against this repression of the workers’ movement, which the Kazakh state has been using systematically for many years. We support the working class and young people of Kazakhstan, the injured and imprisoned activists, and the organisation Red Yurt.

Here is the letter we sent to the Embassy of Kazakhstan in France. We call on you to do the same, in your own name or on behalf of your trade union, political or community organisation, by sending a letter of protest to the following e-mail address: paris@mfa.kz

And a copy to Red Yurt: chakmonro@ya.ru
""",
        "photo_alt": (
            "Drawing: a demonstration in a street in Almaty in summer; protesters hold a banner "
            "and placards, with mountains in the background."
        ),
        "photo_caption": "A Red Yurt comrade demonstrating in Kazakhstan, before his arrest",
        "photo_credit": "Illustration made for the demonstration; this is not the original photo.",
        "subject": "Protest against the repression of the 6 July demonstration in Almaty",
        "letter": """\
Dear Ambassador of Kazakhstan to France,

We are writing to protest against the police repression that came down on a legitimate demonstration in Almaty on 6 July and against the arrests of protesters that followed. We have been informed that the protesters were “kettled” for more than 12 hours in particularly harsh conditions, in temperatures above 30 °C, without access to toilets or water.

Naturally, in these conditions, the protesters tried to break through the police kettle to get water. We have received testimonies reporting brutal attacks by the “SOBR” security units on those who tried to escape the police kettle. They were arrested and thrown into the back of police trucks. Three of them are named Valikhan Sultanov, Yrbsek Tottasyn and Dostiyarov Dauren. We are extremely concerned for their well-being. Valikha Sultanov was particularly badly injured by the police.

Following the arrests and the online trials, the protesters were sentenced to 10 days in prison, and we know neither whether they are well nor even where they are being held. One of the testimonies we have gathered suggests that Valikhan Sultanov is seriously injured and may be in a medical facility in Almaty.

The right to demonstrate is a fundamental democratic right. Once again, the Kazakh state has stepped in to stop a legitimate protest and has tried to intimidate those who oppose the government. The actions of the security forces on 6 July confirm the view of the international workers’ movement that behind the democratic veneer lies a real dictatorship in Kazakhstan.

{personal_sentence}

{signatory} demands that all the protesters be released immediately and that the government guarantee the right to demonstrate.

{place_and_date}

{signature}
""",
        "translation_note": "Translated from the French original.",
    },
    "ru": {
        "title": "Репрессии против социального движения в Казахстане",
        "summary": (
            "6 июля 2021 года в Алматы участники протеста против роста цен были заблокированы полицией "
            "в «котле», получили травмы и оказались за решёткой. Напишите в Посольство Казахстана во Франции "
            "и потребуйте их освобождения."
        ),
        "article": """\
В то время как цены на товары первой необходимости в Казахстане стремительно растут, казахстанское государство и диктаторское правительство Назарбаева жёстко подавляют любой протест и урезают демократические права рабочего класса и молодёжи, в том числе право на мирные демонстрации.

Так, 6 июля левые активисты были задержаны во время демонстрации против роста цен, участников которой полиция взяла в «котёл». По словам очевидцев, при одной из попыток прорвать полицейское оцепление Valikhan Sultanov, Yrysbek Toktasyn и Dostiyarov Dauren получили травмы. После этого их задержали и 10 суток продержали под арестом, не дав возможности обратиться к врачу. Сегодня Valikhan находится в медицинском учреждении с тяжёлыми травмами головы!

Gauche révolutionnaire («Революционные левые»), французская секция Комитета за рабочий интернационал, протестует против подобного преследования рабочего движения, к которому казахстанское государство систематически прибегает уже долгие годы. Мы поддерживаем рабочий класс и молодёжь Казахстана, раненых и заключённых активистов, а также организацию Red Yurt («Красная юрта»).

Вот письмо, которое мы направили в Посольство Казахстана во Франции. Призываем вас последовать нашему примеру от своего имени или от имени вашей профсоюзной, политической или общественной организации и направить письмо протеста по следующему адресу электронной почты: paris@mfa.kz

Копию письма направьте в Red Yurt: chakmonro@ya.ru
""",
        "photo_alt": (
            "Рисунок: демонстрация на одной из улиц Алматы летом; участники держат транспарант "
            "и плакаты, на заднем плане горы."
        ),
        "photo_caption": "Товарищ из Red Yurt на демонстрации в Казахстане незадолго до ареста",
        "photo_credit": "Иллюстрация создана для демонстрации, это не оригинальная фотография.",
        "subject": "Протест против подавления демонстрации 6 июля в Алматы",
        "letter": """\
Уважаемый господин Посол Казахстана во Франции!

Мы обращаемся к Вам, чтобы выразить протест против полицейских репрессий, обрушившихся 6 июля на законную демонстрацию в Алматы, и против последовавших за этим арестов её участников. Нам сообщили, что демонстрантов более 12 часов держали в полицейском «котле» в особенно тяжёлых условиях: при жаре свыше 30 °C, без доступа к туалетам и воде.

Разумеется, в таких условиях демонстранты пытались прорвать полицейское оцепление, чтобы добраться до воды. Мы получили свидетельства о жестоких нападениях бойцов спецподразделения «СОБР» на тех, кто пытался вырваться из оцепления. Их задерживали и бросали в кузова полицейских машин. Троих из них зовут Valikhan Sultanov, Yrbsek Tottasyn и Dostiyarov Dauren. Мы крайне обеспокоены их состоянием. Особенно серьёзно от действий полиции пострадал Valikha Sultanov.

После задержаний и судебных заседаний в режиме онлайн демонстрантов приговорили к 10 суткам ареста, и мы не знаем ни того, всё ли с ними в порядке, ни даже того, где их содержат. Согласно одному из собранных нами свидетельств, Valikhan Sultanov серьёзно ранен и, возможно, находится в одном из медицинских учреждений Алматы.

Право на демонстрации является основополагающим демократическим правом. Казахстанское государство вновь вмешалось, чтобы пресечь законный протест, и попыталось запугать тех, кто выступает против правительства. Действия силовых структур 6 июля подтверждают точку зрения международного рабочего движения: за демократическим фасадом в Казахстане скрывается настоящая диктатура.

{personal_sentence}

{signatory} требует немедленно освободить всех задержанных участников акции и гарантировать со стороны правительства право на демонстрации.

{place_and_date}

{signature}
""",
        "translation_note": "Перевод с французского оригинала.",
    },
    "kk": {
        "title": "Қазақстандағы әлеуметтік қозғалысқа қарсы қуғын-сүргін",
        "summary": (
            "2021 жылғы 6 шілдеде Алматыда баға өсіміне қарсы шыққан наразылық білдірушілер полиция "
            "қоршауына алынып, жарақаттанып, қамауға алынды. Олардың босатылуын талап етіп, Қазақстанның "
            "Франциядағы елшілігіне хат жазыңыз."
        ),
        "article": """\
Қазақстанда бірінші қажеттілік тауарларының бағасы шарықтап өсіп жатқан тұста Қазақстан мемлекеті мен Назарбаевтың диктаторлық үкіметі кез келген наразылықты қатаң басып-жаншып, жұмысшы табы мен жастардың демократиялық құқықтарын, соның ішінде бейбіт шеруге шығу құқығын шектеп отыр.

Мәселен, 6 шілдеде баға өсіміне қарсы өткен шеру кезінде солшыл белсенділер ұсталды, ал шеруге қатысушыларды полиция қоршауға алды. Куәгерлердің айтуынша, полиция қоршауын бұзып шығуға жасалған әрекеттердің бірінде Valikhan Sultanov, Yrysbek Toktasyn және Dostiyarov Dauren жарақат алған. Осыдан кейін оларды тұтқындап, дәрігерге көрінуге мүмкіндік бермей, 10 күн бойы қамауда ұстады. Бүгінде Valikhan басынан ауыр жарақат алып, емдеу мекемесінде жатыр!

Gauche révolutionnaire («Революциялық солшылдар»), Жұмысшылар интернационалы үшін комитеттің француз секциясы, жұмысшы қозғалысының осылайша қуғын-сүргінге ұшырауына наразылық білдіреді; Қазақстан мемлекеті мұндай әдісті көп жылдан бері жүйелі түрде қолданып келеді. Біз Қазақстанның жұмысшы табы мен жастарын, жараланған және түрмеге қамалған белсенділерді, сондай-ақ Red Yurt («Қызыл киіз үй») ұйымын қолдаймыз.

Қазақстанның Франциядағы елшілігіне біз жолдаған хат осы. Сіздерді де өз атыңыздан немесе кәсіподақтық, саяси не қоғамдық ұйымыңыздың атынан дәл осылай етуге, яғни мына электрондық пошта мекенжайына наразылық хатын жіберуге шақырамыз: paris@mfa.kz

Ал көшірмесін Red Yurt ұйымына жіберіңіз: chakmonro@ya.ru
""",
        "photo_alt": (
            "Сурет: жаз мезгілінде Алматы көшелерінің бірінде өтіп жатқан шеру; наразылық білдірушілер "
            "транспарант пен плакаттар ұстап тұр, артқы жақта таулар көрінеді."
        ),
        "photo_caption": "Red Yurt ұйымының бір жолдасы Қазақстандағы шеруде, тұтқындалғанға дейін",
        "photo_credit": "Бұл сурет демонстрация үшін салынған, түпнұсқа фотосурет емес.",
        "subject": "Алматыдағы 6 шілде шеруін басып-жаншуға қарсы наразылық",
        "letter": """\
Қазақстанның Франциядағы Елшісі құрметті мырза,

6 шілдеде Алматыда өткен заңды шеруге қарсы полиция жасаған қуғын-сүргінге және одан кейін наразылық білдірушілердің тұтқындалуына наразылық білдіру үшін Сізге хат жазып отырмыз. Бізге наразылық білдірушілердің 12 сағаттан астам уақыт бойы 30 °C-тан жоғары ыстықта, дәретханаға да, суға да қол жеткізе алмай, аса ауыр жағдайда «қоршауда» ұсталғаны белгілі болды.

Әрине, мұндай жағдайда наразылық білдірушілер суға қол жеткізу үшін полиция қоршауын бұзып шығуға тырысты. Бізге «СОБР» күштік бөлімшелерінің полиция қоршауынан шығып кетуге тырысқандарға қатыгездікпен шабуыл жасағаны туралы айғақтар келіп жетті. Оларды ұстап, полиция көліктерінің артына лақтырып тастады. Олардың үшеуінің есімі: Valikhan Sultanov, Yrbsek Tottasyn және Dostiyarov Dauren. Біз олардың жай-күйіне қатты алаңдаймыз. Әсіресе Valikha Sultanov полиция қолынан ауыр жарақат алды.

Тұтқындаулар мен онлайн сот отырыстарынан кейін наразылық білдірушілер 10 тәулікке қамауға кесілді, ал біз олардың аман-саулығын да, тіпті қайда ұсталып отырғанын да білмейміз. Біз жинаған айғақтардың біріне қарағанда, Valikhan Sultanov ауыр жарақат алған және Алматыдағы медициналық мекемелердің бірінде жатуы мүмкін.

Шеруге шығу құқығы іргелі демократиялық құқық болып табылады. Қазақстан мемлекеті тағы да заңды наразылықты тоқтату үшін араласып, үкіметке қарсы шығатындарды қорқытуға тырысты. Күштік құрылымдардың 6 шілдедегі әрекеттері халықаралық жұмысшы қозғалысының көзқарасын растайды: Қазақстанда демократиялық бүркеменің астында нағыз диктатура жасырынып тұр.

{personal_sentence}

{signatory} барлық наразылық білдірушілерді дереу босатуды және үкіметтен бейбіт жиналыс құқығына кепілдік беруді талап етеді.

{place_and_date}

{signature}
""",
        "translation_note": "Француз тіліндегі түпнұсқадан аударылған.",
    },
}
