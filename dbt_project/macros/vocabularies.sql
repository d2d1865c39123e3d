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


{# The HubSpot deal stages that mean a signed contract: `closedwon` is the won stage of the
   default sales pipeline; a portal with its own pipelines adds its won stages' ids here. A deal
   in a won stage is active until its end date has passed (then expired); a deal in any other
   stage (open, or lost) is a draft, never billed. #}
{% macro hubspot_won_deal_stages() -%}
    {{ return(['closedwon']) }}
{%- endmacro %}

{# HubSpot's billing frequencies (a line item's `recurringbillingfrequency`) as ISO-8601 periods;
   a line item without one is billed once and has no period. #}
{% macro hubspot_billing_periods() -%}
    {{ return({
        'weekly': 'P1W',
        'biweekly': 'P2W',
        'monthly': 'P1M',
        'quarterly': 'P3M',
        'per_six_months': 'P6M',
        'annually': 'P1Y',
        'per_two_years': 'P2Y',
        'per_three_years': 'P3Y',
        'per_four_years': 'P4Y',
        'per_five_years': 'P5Y',
    }) }}
{%- endmacro %}


{# The currencies whose amounts Stripe gives in whole units (zero-decimal) or in thousandths
   (three-decimal); every other currency's in hundredths. From Stripe's currency documentation. #}
{% macro minor_unit_currencies() %}
    {{ return({
        'zero_decimal': ['BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND',
                         'VUV', 'XAF', 'XOF', 'XPF'],
        'three_decimal': ['BHD', 'JOD', 'KWD', 'OMR', 'TND'],
    }) }}
{% endmacro %}
