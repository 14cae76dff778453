from django.urls import path

from courrier.studio import building, home, letters, mailbox, people, publishing, recipients, signing_in, starting

app_name = "studio"

urlpatterns = [
    path("", home.home, name="home"),
    path("sign-in/", signing_in.sign_in, name="sign_in"),
    path("sign-out/", signing_in.sign_out, name="sign_out"),
    path("second-factor/", signing_in.second_factor_verify, name="second_factor_verify"),
    path("second-factor/set-up/", signing_in.second_factor_setup, name="second_factor_setup"),
    path("my-address/", signing_in.my_address, name="my_address"),
    path("new/", starting.new, name="new"),
    path("mailbox/", mailbox.mailbox, name="mailbox"),
    path("mailbox/<str:key>/", mailbox.message, name="mailbox_message"),
    path("c/<int:campaign_id>/", building.overview, name="campaign"),
    path("c/<int:campaign_id>/story/", building.story, name="story"),
    path("c/<int:campaign_id>/people/", people.people, name="people"),
    path("c/<int:campaign_id>/letter/<str:language>/", letters.letter, name="letter"),
    path("c/<int:campaign_id>/recipients/", recipients.recipients, name="recipients"),
    path("c/<int:campaign_id>/options/", building.options, name="options"),
    path("c/<int:campaign_id>/publish/", publishing.publish, name="publish"),
    path("c/<int:campaign_id>/publish/page/", publishing.page_preview, name="page_preview"),
    path("c/<int:campaign_id>/publish/letter/", publishing.letter_preview, name="letter_preview"),
    path("c/<int:campaign_id>/publish/test/", publishing.send_test, name="send_test"),
    path("c/<int:campaign_id>/publish/go-live/", publishing.go_live, name="go_live"),
    path("c/<int:campaign_id>/published/", publishing.published, name="published"),
]
