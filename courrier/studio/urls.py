from django.urls import path

from courrier.studio import building, home, signing_in, starting

app_name = "studio"

urlpatterns = [
    path("", home.home, name="home"),
    path("sign-in/", signing_in.sign_in, name="sign_in"),
    path("sign-out/", signing_in.sign_out, name="sign_out"),
    path("second-factor/", signing_in.second_factor_verify, name="second_factor_verify"),
    path("second-factor/set-up/", signing_in.second_factor_setup, name="second_factor_setup"),
    path("my-address/", signing_in.my_address, name="my_address"),
    path("new/", starting.new, name="new"),
    path("c/<int:campaign_id>/", building.overview, name="campaign"),
    path("c/<int:campaign_id>/people/", building.people, name="people"),
    path("c/<int:campaign_id>/letter/<str:language>/", building.letter, name="letter"),
]
