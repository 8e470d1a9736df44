# proofkey's pages, English (the fallback of every language).
# Operators override any message with their own LANG/*.ftl files in
# translations_dir; see docs/theming.md. Arguments: $product is the
# product_name setting; the others are named where used.

## Shared

signed-in-as = Signed in as { $account }
technical-details = Technical details
home-link = Go to the start page

## Sign in

login-title = Sign in
login-subtitle = to continue to { $client }
login-username = Username
login-password = Password
login-submit = Sign in
login-invalid = That username and password do not match. Check them and try again.
login-address-blocked = Too many failed sign-ins came from your network. Wait a few minutes, then try again.
login-busy = The service is busy right now. Wait a moment, then try again.

## Consent

consent-title = Allow { $client } to use your account?
consent-title-metadata = Allow an application from { $host } to use your account?
consent-intro = { $client } asks for these permissions:
consent-intro-none = { $client } asks to use your account.
consent-resources = It will use them at:
consent-destination = After you choose, you will be sent to { $host }.
consent-destination-local = After you choose, you will be sent back to an application on this device.
consent-not-you = Not you?
consent-switch = Use another account
consent-allow = Allow
consent-deny = Deny
consent-unverified = This application is not verified: it describes itself at { $client_id } and calls itself “{ $client }”. Only allow it if you trust { $host }.
consent-self-registered = This application registered itself with this service; nobody here has checked who runs it. Only allow it if you started it yourself.
consent-client-id = Application ID
consent-redirect-uri = Return address

## Scopes (scope-NAME; scope_descriptions in the configuration covers
## scope names that are not Fluent identifiers, such as mcp:tools)

scope-openid = Confirm who you are
scope-profile = See your name and username
scope-email = See your email address
scope-offline_access = Keep access while you are away

## Connect a device

device-title = Connect a device
device-intro = Enter the code shown on your device.
device-code = Code
device-continue = Continue
device-confirm-title = Connect { $client }?
device-confirm-title-metadata = Connect an application from { $host }?
device-confirm-intro = A device using { $client } asks for these permissions:
device-confirm-intro-none = A device using { $client } asks to use your account.
device-check-code = Only allow this if you started it yourself and your device shows the code { $code }.
device-sign-in-first = Sign in first.
device-code-invalid = That code is not valid or has expired. Check the code on your device and try again.
device-code-too-many = Too many wrong codes came from your network. Wait a few minutes, then try again.
device-connected-title = Device connected
device-connected = You can go back to your device.
device-denied-title = Request denied
device-denied = The device was not connected. You can close this page.
device-invalid-title = Code not valid
device-invalid = This code is not valid or no longer waiting. Start again on your device.
device-too-many-title = Too many attempts

## Sign out

logout-title = Sign out?
logout-asks = { $client } asks to sign you out of { $product }.
logout-question = Do you want to sign out of { $product }?
logout-confirm = Sign out
logout-cancel = Cancel
logout-done-title = Signed out
logout-done = You are signed out. You can close this page.
logout-cancelled-title = Still signed in
logout-cancelled = You are still signed in. You can close this page.

## Problems

error-title = Something went wrong
error-authorize = The application that sent you here asked for something this service cannot do. To keep your account safe, you were not sent back to it. Go back to the application and try again; if it keeps happening, tell the people who run it.
error-logout = The sign-out request could not be handled, so you may still be signed in. Go back to the application and try again.
error-form = This form could not be handled. Go back and try again.
form-expired-title = Page expired
form-expired = This page was open too long, or was sent twice. Go back to the application and start again.
unavailable-title = Try again shortly
unavailable = The service is temporarily unavailable. Try again in a moment.

## Start page and missing pages

home-title = { $product }
home-intro = This is where you sign in to { $product }. Applications bring you here when they need you to sign in.
home-device = Connect a device
home-sign-out = Sign out
home-developers = Developers: OpenID Connect discovery
not-found-title = Page not found
not-found = There is nothing at this address. Check the link, or go to the start page.
