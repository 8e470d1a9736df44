# proofkey's pages, French. Missing messages fall back to English.

## Shared

signed-in-as = Connecté en tant que { $account }
technical-details = Détails techniques
home-link = Aller à la page d’accueil

## Sign in

login-title = Se connecter
login-subtitle = pour continuer vers { $client }
login-username = Nom d’utilisateur
login-password = Mot de passe
login-submit = Se connecter
login-invalid = Ce nom d’utilisateur et ce mot de passe ne correspondent pas. Vérifiez-les et réessayez.
login-address-blocked = Trop de connexions ont échoué depuis votre réseau. Attendez quelques minutes, puis réessayez.
login-busy = Le service est très sollicité en ce moment. Attendez un instant, puis réessayez.

## Consent

consent-title = Autoriser { $client } à utiliser votre compte ?
consent-title-metadata = Autoriser une application de { $host } à utiliser votre compte ?
consent-intro = { $client } demande ces autorisations :
consent-intro-none = { $client } demande à utiliser votre compte.
consent-resources = Elles serviront ici :
consent-destination = Après votre choix, vous serez envoyé vers { $host }.
consent-destination-local = Après votre choix, vous serez renvoyé vers une application de cet appareil.
consent-not-you = Ce n’est pas vous ?
consent-switch = Utiliser un autre compte
consent-allow = Autoriser
consent-deny = Refuser
consent-unverified = Cette application n’est pas vérifiée : elle se décrit à l’adresse { $client_id } et se nomme « { $client } ». Ne l’autorisez que si vous faites confiance à { $host }.
consent-self-registered = Cette application s’est enregistrée elle-même auprès de ce service ; personne ici n’a vérifié qui l’exploite. Ne l’autorisez que si vous l’avez lancée vous-même.
consent-client-id = Identifiant de l’application
consent-redirect-uri = Adresse de retour

## Scopes

scope-openid = Confirmer votre identité
scope-profile = Voir votre nom et votre nom d’utilisateur
scope-email = Voir votre adresse e-mail
scope-offline_access = Garder l’accès pendant votre absence

## Connect a device

device-title = Connecter un appareil
device-intro = Saisissez le code affiché sur votre appareil.
device-code = Code
device-continue = Continuer
device-confirm-title = Connecter { $client } ?
device-confirm-title-metadata = Connecter une application de { $host } ?
device-confirm-intro = Un appareil utilisant { $client } demande ces autorisations :
device-confirm-intro-none = Un appareil utilisant { $client } demande à utiliser votre compte.
device-check-code = N’autorisez que si vous l’avez lancé vous-même et que votre appareil affiche le code { $code }.
device-sign-in-first = Connectez-vous d’abord.
device-code-invalid = Ce code n’est pas valide ou a expiré. Vérifiez le code sur votre appareil et réessayez.
device-code-too-many = Trop de codes erronés sont venus de votre réseau. Attendez quelques minutes, puis réessayez.
device-connected-title = Appareil connecté
device-connected = Vous pouvez revenir à votre appareil.
device-denied-title = Demande refusée
device-denied = L’appareil n’a pas été connecté. Vous pouvez fermer cette page.
device-invalid-title = Code non valide
device-invalid = Ce code n’est pas valide ou n’est plus en attente. Recommencez sur votre appareil.
device-too-many-title = Trop de tentatives

## Sign out

logout-title = Se déconnecter ?
logout-asks = { $client } demande à vous déconnecter de { $product }.
logout-question = Voulez-vous vous déconnecter de { $product } ?
logout-confirm = Se déconnecter
logout-cancel = Annuler
logout-done-title = Déconnecté
logout-done = Vous êtes déconnecté. Vous pouvez fermer cette page.
logout-cancelled-title = Toujours connecté
logout-cancelled = Vous êtes toujours connecté. Vous pouvez fermer cette page.

## Problems

error-title = Un problème est survenu
error-authorize = L’application qui vous a envoyé ici a demandé quelque chose que ce service ne peut pas faire. Pour protéger votre compte, vous n’y avez pas été renvoyé. Revenez à l’application et réessayez ; si le problème persiste, prévenez ceux qui l’exploitent.
error-logout = La demande de déconnexion n’a pas pu être traitée ; vous êtes peut-être encore connecté. Revenez à l’application et réessayez.
error-form = Ce formulaire n’a pas pu être traité. Revenez en arrière et réessayez.
form-expired-title = Page expirée
form-expired = Cette page est restée ouverte trop longtemps ou a été envoyée deux fois. Revenez à l’application et recommencez.
unavailable-title = Réessayez dans un instant
unavailable = Le service est momentanément indisponible. Réessayez dans un instant.

## Start page and missing pages

home-title = { $product }
home-intro = C’est ici que vous vous connectez à { $product }. Les applications vous y envoient quand vous devez vous connecter.
home-device = Connecter un appareil
home-sign-out = Se déconnecter
home-developers = Développeurs : découverte OpenID Connect
not-found-title = Page introuvable
not-found = Il n’y a rien à cette adresse. Vérifiez le lien ou allez à la page d’accueil.
