from django import forms

from garage import selectors


class LendForm(forms.Form):
    # The queryset is lazy and copied per form, so users created since start-up are listed.
    user = forms.ModelChoiceField(queryset=selectors.lendable_users(), label="Emprunteur")
