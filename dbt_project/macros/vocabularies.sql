{#
  Accepted vocabularies of the canonical model. Staging rejects a record whose value is not in
  these lists, and the schema tests of the canonical models check the same lists, so the two can
  never disagree.
#}

{# ISO-4217 codes in circulation that an invoice can be issued in (fund, precious-metal and
   testing codes such as XAU, XDR, XTS, XXX are not billing currencies). Withdrawn codes (HRK,
   SLL, ...) are rejected: add one here if historical invoices still carry it. #}
{% macro accepted_currencies() -%}
    {{ return([
        'AED', 'AFN', 'ALL', 'AMD', 'ANG', 'AOA', 'ARS', 'AUD', 'AWG', 'AZN',
        'BAM', 'BBD', 'BDT', 'BGN', 'BHD', 'BIF', 'BMD', 'BND', 'BOB', 'BRL', 'BSD', 'BTN', 'BWP', 'BYN', 'BZD',
        'CAD', 'CDF', 'CHF', 'CLP', 'CNY', 'COP', 'CRC', 'CUP', 'CVE', 'CZK',
        'DJF', 'DKK', 'DOP', 'DZD', 'EGP', 'ERN', 'ETB', 'EUR',
        'FJD', 'FKP', 'GBP', 'GEL', 'GHS', 'GIP', 'GMD', 'GNF', 'GTQ', 'GYD',
        'HKD', 'HNL', 'HTG', 'HUF', 'IDR', 'ILS', 'INR', 'IQD', 'IRR', 'ISK',
        'JMD', 'JOD', 'JPY', 'KES', 'KGS', 'KHR', 'KMF', 'KPW', 'KRW', 'KWD', 'KYD', 'KZT',
        'LAK', 'LBP', 'LKR', 'LRD', 'LSL', 'LYD',
        'MAD', 'MDL', 'MGA', 'MKD', 'MMK', 'MNT', 'MOP', 'MRU', 'MUR', 'MVR', 'MWK', 'MXN', 'MYR', 'MZN',
        'NAD', 'NGN', 'NIO', 'NOK', 'NPR', 'NZD', 'OMR',
        'PAB', 'PEN', 'PGK', 'PHP', 'PKR', 'PLN', 'PYG', 'QAR',
        'RON', 'RSD', 'RUB', 'RWF',
        'SAR', 'SBD', 'SCR', 'SDG', 'SEK', 'SGD', 'SHP', 'SLE', 'SOS', 'SRD', 'SSP', 'STN', 'SVC', 'SYP', 'SZL',
        'THB', 'TJS', 'TMT', 'TND', 'TOP', 'TRY', 'TTD', 'TWD', 'TZS',
        'UAH', 'UGX', 'USD', 'UYU', 'UZS', 'VED', 'VES', 'VND', 'VUV', 'WST',
        'XAF', 'XCD', 'XCG', 'XOF', 'XPF', 'YER', 'ZAR', 'ZMW', 'ZWG'
    ]) }}
{%- endmacro %}

{# Canonical contract lifecycle. #}
{% macro contract_statuses() -%}
    {{ return(['draft', 'active', 'paused', 'expired']) }}
{%- endmacro %}

{# The app database's subscription statuses and what they mean canonically. #}
{% macro app_db_contract_status_map() -%}
    {{ return({
        'trialing': 'draft',
        'active': 'active',
        'paused': 'paused',
        'canceled': 'expired',
        'ended': 'expired',
    }) }}
{%- endmacro %}

{# How a contract item is priced; the billing engine needs one of these to rate usage. #}
{% macro pricing_models() -%}
    {{ return(['flat_fee', 'per_unit', 'tiered', 'volume', 'package']) }}
{%- endmacro %}


{# Stripe's subscription statuses and what they mean canonically: a subscription that has not
   started billing (trial, first payment pending) is a draft; one in dunning still runs. #}
{% macro stripe_contract_status_map() -%}
    {{ return({
        'trialing': 'draft',
        'incomplete': 'draft',
        'active': 'active',
        'past_due': 'active',
        'unpaid': 'active',
        'paused': 'paused',
        'canceled': 'expired',
        'incomplete_expired': 'expired',
    }) }}
{%- endmacro %}
